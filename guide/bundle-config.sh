# config KEY VALUE: set one field of bundle/config.json, from the shell.
#
#   config process.args '["sh", "-c", "id"]'     VALUE is JSON ...
#   config root.path /srv/rootfs                  ... or else a string
#   config process.user.uid 1000                  missing objects are made
#   config mounts.+ '{"destination": "/data", "type": "tmpfs", "source": "tmpfs"}'
#                                                 + appends to a list
#
# KEY is a path of object keys and list indexes, separated by dots. Chapter
# 7 uses it to change its demo bundle; jq does the same, if you have it:
# jq '.process.args = ["sh", "-c", "id"]'.
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
