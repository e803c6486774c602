#!/usr/bin/env bash
# Validates the committed API descriptions of `tenantctl serve` with openapi-spec-validator
# (from PyPI, in a venv): docs/openapi.json as OpenAPI 3.1, docs/swagger.json as Swagger 2.0.
# The host test `serve` checks that the server serves exactly these files.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
docs="$here/../../docs"
cd "$here"

python="${PYTHON:-python3}"
if ! .venv/bin/python -c '' >/dev/null 2>&1; then
    rm -rf .venv
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
exec .venv/bin/python - "$docs/openapi.json" "$docs/swagger.json" <<'PY'
import json, sys
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from openapi_spec_validator import OpenAPIV31SpecValidator, OpenAPIV2SpecValidator

checks = [(sys.argv[1], OpenAPIV31SpecValidator, "openapi", "3.1"),
          (sys.argv[2], OpenAPIV2SpecValidator, "swagger", "2.0")]
passed = failed = 0
for path, validator, field, version in checks:
    with open(path) as f:
        doc = json.load(f)
    try:
        if not str(doc.get(field, "")).startswith(version):
            raise OpenAPIValidationError(f"{field} is {doc.get(field)!r}, expected {version}")
        validate(doc, cls=validator)
        operations = sum(len(item) for item in doc["paths"].values())
        print(f"ok: {path}: valid {field} {doc[field]}, {operations} operations")
        passed += 1
    except OpenAPIValidationError as err:
        print(f"FAILED: {path}: {err}")
        failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
