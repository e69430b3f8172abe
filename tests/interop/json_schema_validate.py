#!/usr/bin/env python3
"""Validate raw-event examples against the published JSON Schema with the `jsonschema`
package (an implementation independent of ingest's Rust validator).

Usage: json_schema_validate.py SCHEMA.json EXAMPLES_DIR
"""
import json
import pathlib
import sys

import jsonschema


def main():
    schema = json.loads(pathlib.Path(sys.argv[1]).read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    passed = failed = 0
    for path in sorted(pathlib.Path(sys.argv[2]).glob("*.json")):
        errors = sorted(validator.iter_errors(json.loads(path.read_text())), key=str)
        if errors:
            failed += 1
            print(f"FAIL {path.name}: {errors[0].message}")
        else:
            passed += 1
            print(f"ok   {path.name}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)


if __name__ == "__main__":
    main()
