"""Compares our routes with ConnectOnion 1.9.2's own host, field by field: every field of its
GET /info must be in ours with the same JSON type (objects compared recursively; a list's
items by the reference's first item), GET / must answer a JSON object with every key of its
route index, and OPTIONS must answer 204 with the same CORS headers. Prints one JSON object:
{"problems": [...], "reference_info": {...}, "our_info": {...}}; no problems means the shape holds.

Usage: co_info_shape.py REFERENCE_URL OUR_URL
"""

import json
import sys
import urllib.error
import urllib.request


def kind(value):
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def compare(reference, ours, path, problems):
    """Every field of `reference` in `ours`, of the same type."""
    if kind(reference) != kind(ours):
        problems.append(f"{path}: {kind(ours)} where ConnectOnion has {kind(reference)}")
        return
    if isinstance(reference, dict):
        for key, value in reference.items():
            if key not in ours:
                problems.append(f"{path}.{key}: missing")
            else:
                compare(value, ours[key], f"{path}.{key}", problems)
    elif isinstance(reference, list) and reference:
        for i, item in enumerate(ours):
            compare(reference[0], item, f"{path}[{i}]", problems)


def fetch(url, method="GET"):
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def main():
    reference, ours = sys.argv[1].rstrip("/"), sys.argv[2].rstrip("/")
    problems = []
    _, _, ref_info = fetch(f"{reference}/info")
    _, _, our_info = fetch(f"{ours}/info")
    ref_info, our_info = json.loads(ref_info), json.loads(our_info)
    compare(ref_info, our_info, "info", problems)

    _, _, ref_index = fetch(f"{reference}/")
    status, _, our_index = fetch(f"{ours}/")
    if status != 200:
        problems.append(f"GET /: {status}")
    else:
        compare(json.loads(ref_index), json.loads(our_index), "index", problems)

    for path in ("/input", "/info"):
        ref_status, ref_headers, _ = fetch(f"{reference}{path}", "OPTIONS")
        our_status, our_headers, _ = fetch(f"{ours}{path}", "OPTIONS")
        if our_status != ref_status:
            problems.append(f"OPTIONS {path}: {our_status} where ConnectOnion answers {ref_status}")
        ref_cors = {k.lower(): v for k, v in ref_headers.items() if k.lower().startswith("access-control")}
        our_cors = {k.lower(): v for k, v in our_headers.items() if k.lower().startswith("access-control")}
        for header, value in ref_cors.items():
            ours_value = our_cors.get(header)
            if ours_value is None:
                problems.append(f"OPTIONS {path}: no {header}")
            elif header != "access-control-allow-origin":
                wanted = {v.strip().lower() for v in value.split(",")}
                have = {v.strip().lower() for v in ours_value.split(",")}
                if not wanted <= have:
                    problems.append(f"OPTIONS {path}: {header} lacks {sorted(wanted - have)}")
    print(json.dumps({"problems": problems, "reference_info": ref_info, "our_info": our_info}))


if __name__ == "__main__":
    main()
