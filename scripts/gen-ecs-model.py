#!/usr/bin/env python3
"""Writes src/render/ecs-register-task-definition.json: the shapes of ECS's RegisterTaskDefinition
request (members, types, required members, enum values) taken from botocore's ECS service model, so
`render` can check a task definition before ECS sees it. Run with the bench venv's python after a
botocore upgrade:  .bench/venv/bin/python scripts/gen-ecs-model.py"""
import gzip, json, pathlib, sys
import botocore

root = pathlib.Path(botocore.__file__).parent / "data" / "ecs"
version = sorted(p.name for p in root.iterdir() if p.is_dir())[-1]
path = root / version / "service-2.json.gz"
model = json.loads(gzip.open(path).read())
shapes = model["shapes"]
start = model["operations"]["RegisterTaskDefinition"]["input"]["shape"]
out, todo = {}, [start]
while todo:
    name = todo.pop()
    if name in out:
        continue
    s = shapes[name]
    t = s["type"]
    entry = {"type": t}
    if t == "structure":
        entry["members"] = {m: v["shape"] for m, v in s["members"].items()}
        if s.get("required"):
            entry["required"] = s["required"]
        todo += entry["members"].values()
    elif t == "list":
        entry["member"] = s["member"]["shape"]
        todo.append(entry["member"])
    elif t == "map":
        entry["key"], entry["value"] = s["key"]["shape"], s["value"]["shape"]
        todo += [entry["key"], entry["value"]]
    elif t == "string" and "enum" in s:
        entry["enum"] = s["enum"]
    out[name] = entry
doc = {"source": f"botocore {botocore.__version__} ecs/{version}", "root": start, "shapes": dict(sorted(out.items()))}
dest = pathlib.Path(__file__).resolve().parent.parent / "src" / "render" / "ecs-register-task-definition.json"
dest.parent.mkdir(exist_ok=True)
dest.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
print(f"{dest}: {len(out)} shapes from {doc['source']}", file=sys.stderr)
