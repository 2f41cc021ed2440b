#!/usr/bin/env python3
"""Sizes of the Lambda bootstraps `sam build` produced: stripped bytes and zipped bytes.

Lambda ships and unpacks the zip on every cold start, so both numbers matter; the goal in
issue 12 is every bootstrap under 6 MB stripped. Functions are read from the template (their
`Metadata.BuildProperties.Binary`), bootstraps from <build-dir>/<LogicalId>/bootstrap. The
release profile strips already; a bootstrap that still has a symbol table is measured after
stripping a copy (llvm-strip / aarch64-linux-gnu-strip / strip, whichever works).

Writes {"<binary>": {"bytes": N, "zip_bytes": M}, ...} to --out and prints a table.

  .tools/venv/bin/python infra/scripts/lambda_sizes.py --template template.yaml \\
      --build-dir .aws-sam/build --out target/lambda-sizes.json
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile

sys.dont_write_bytecode = True  # no __pycache__ left in infra/scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_template import TemplateError, load_template  # noqa: E402


def has_symtab(path: str) -> bool:
    """True if the ELF file still has a .symtab section (i.e. is not stripped)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF":
        raise ValueError(f"{path}: not an ELF file")
    is64, endian = data[4] == 2, "<" if data[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(endian + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(endian + "HH", data, 0x3A)
    else:
        shoff, = struct.unpack_from(endian + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(endian + "HH", data, 0x2E)
    for i in range(shnum):
        sh_type, = struct.unpack_from(endian + "I", data, shoff + i * shentsize + 4)
        if sh_type == 2:  # SHT_SYMTAB
            return True
    return False


def stripped_size(path: str) -> tuple[int, str]:
    """(bytes, how): the file's size if stripped, else the size of a stripped copy."""
    if not has_symtab(path):
        return os.path.getsize(path), "stripped"
    for tool in ("llvm-strip", "aarch64-linux-gnu-strip", "strip"):
        if not shutil.which(tool):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, "bootstrap")
            shutil.copyfile(path, copy)
            if subprocess.run([tool, "--strip-all", copy], capture_output=True).returncode == 0:
                return os.path.getsize(copy), f"stripped by {tool}"
    return os.path.getsize(path), "NOT stripped (no strip tool for this architecture)"


def zipped_size(path: str) -> int:
    """Size of the deployment zip (bootstrap alone, deflated, as `sam package` makes it)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(path, "bootstrap")
    return buf.getbuffer().nbytes


def functions(template: dict) -> dict[str, str]:
    """LogicalId -> cargo binary name of every rust-cargolambda function."""
    out = {}
    for logical_id, res in template.get("Resources", {}).items():
        meta = res.get("Metadata", {}) if isinstance(res, dict) else {}
        if res.get("Type") == "AWS::Serverless::Function" and meta.get("BuildMethod") == "rust-cargolambda":
            out[logical_id] = meta.get("BuildProperties", {}).get("Binary", logical_id)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Report the stripped and zipped sizes of the built Lambda bootstraps.")
    parser.add_argument("--template", default="template.yaml")
    parser.add_argument("--build-dir", default=".aws-sam/build", help="sam build's output (default .aws-sam/build)")
    parser.add_argument("--out", default="target/lambda-sizes.json", help="JSON output, keyed by binary name")
    args = parser.parse_args(argv)
    try:
        fns = functions(load_template(args.template))
    except TemplateError as e:
        print(f"lambda_sizes: {e}", file=sys.stderr)
        return 2
    sizes, rows, missing = {}, [], []
    for logical_id, binary in sorted(fns.items(), key=lambda kv: kv[1]):
        path = os.path.join(args.build_dir, logical_id, "bootstrap")
        if not os.path.isfile(path):
            missing.append(path)
            continue
        size, how = stripped_size(path)
        zipped = zipped_size(path)
        sizes[binary] = {"bytes": size, "zip_bytes": zipped}
        rows.append((binary, logical_id, f"{size:,}", f"{size / 1e6:.2f} MB", f"{zipped:,}", f"{zipped / 1e6:.2f} MB", how))
    header = ("BINARY", "FUNCTION", "STRIPPED", "", "ZIPPED", "", "")
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(7)]
    for r in [header] + rows:
        cells = [r[i].rjust(widths[i]) if i in (2, 3, 4, 5) else r[i].ljust(widths[i]) for i in range(7)]
        print("  ".join(cells).rstrip())
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(sizes, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"lambda_sizes: wrote {args.out}")
    if missing:
        print("lambda_sizes: missing bootstraps: " + ", ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
