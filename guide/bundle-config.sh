# Two shell functions for chapter 7, to look at and change the config.json
# of the bundle in ./bundle (with python3; jq does the same, if you have
# it). guide/regen-outputs.sh sources this file in every step 7 demo.
#
# ANCHOR: usage
# . guide/bundle-config.sh           (in bash, from the top of the checkout)
#
# show [KEY]                         print bundle/config.json, or one field
#                                    of it; what fits on a line is on one
#   show process.user                KEY: object keys and list indexes,
#   show mounts.1                    separated by dots
#
# config KEY VALUE                   set one field of bundle/config.json
#   config process.args '["sh", "-c", "id"]'     VALUE is JSON,
#   config root.path /srv/rootfs                 or else a string
#   config mounts.+ '{"destination": "/data", "type": "tmpfs", "source": "tmpfs"}'
#                                    a last key + appends to a list
# ANCHOR_END: usage

# show [KEY]: print bundle/config.json, or one field of it, as JSON; what
# fits on one line is printed on one line.
show() {
    python3 -c '
import json, sys
def fmt(value, indent, column):
    line = json.dumps(value)
    if column + len(line) <= 76 or not isinstance(value, (dict, list)) or not value:
        return line
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = [pad + json.dumps(k) + ": " + fmt(v, indent + 2, indent + 4 + len(json.dumps(k)))
                 for k, v in value.items()]
    else:
        items = [pad + fmt(v, indent + 2, indent + 2) for v in value]
    brackets = "{}" if isinstance(value, dict) else "[]"
    return brackets[0] + "\n" + ",\n".join(items) + "\n" + " " * indent + brackets[1]
with open("bundle/config.json") as f:
    node = json.load(f)
for key in filter(None, sys.argv[1].split(".")):
    node = node[int(key)] if isinstance(node, list) else node[key]
print(fmt(node, 0, 0))
' "${1:-}"
}

# config KEY VALUE: set one field of bundle/config.json. VALUE is JSON, or
# else a string; missing objects on the way are made; a last key `+`
# appends VALUE to a list.
config() {
    python3 -c '
import json, sys
path, text = sys.argv[1].split("."), sys.argv[2]
try:
    value = json.loads(text)
except ValueError:
    value = text
with open("bundle/config.json") as f:
    c = json.load(f)
node = c
for key, next_key in zip(path, path[1:]):
    if isinstance(node, list):
        node = node[int(key)]
    else:
        node = node.setdefault(key, [] if next_key == "+" else {})
last = path[-1]
if last == "+":
    node.append(value)
elif isinstance(node, list):
    node[int(last)] = value
else:
    node[last] = value
with open("bundle/config.json", "w") as f:
    json.dump(c, f, indent=2)
' "$1" "$2"
}
