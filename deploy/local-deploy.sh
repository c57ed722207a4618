#!/usr/bin/env bash
# Deploy the component built by deploy/build.py to THIS Greengrass core device, without the cloud
# (a local deployment with the Greengrass CLI; the aws.greengrass.Cli component must be installed).
#
#   sudo deploy/local-deploy.sh                                 the newest build in deploy/out
#   sudo deploy/local-deploy.sh --update-config site.json       and merge site.json into the
#                                                               configuration (same shape as
#                                                               deploy/site-configuration.example.json)
#   sudo deploy/local-deploy.sh --reset --update-config site.json
#                                                               start again from the recipe's
#                                                               DefaultConfiguration, then merge
# Options:
#   --build-dir DIR        what build.py wrote (default: deploy/out next to this script)
#   --version VERSION      component version to deploy (default: the newest recipe in the build)
#   --update-config FILE   JSON object merged into the component configuration
#   --reset                reset the whole configuration to the recipe's defaults first
#   --greengrass-root DIR  where Greengrass is installed (default: /greengrass/v2)
#
# Then: sudo /greengrass/v2/bin/greengrass-cli deployment list / component list, and
#       sudo tail -F /greengrass/v2/logs/io.edgeagent.EdgeAgent.log
set -euo pipefail

COMPONENT=io.edgeagent.EdgeAgent
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_dir="$here/out"
version=""
config_file=""
reset=false
gg_root=/greengrass/v2

die() { echo "local-deploy: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --build-dir) build_dir=${2:?--build-dir needs a folder}; shift 2 ;;
        --version) version=${2:?--version needs a version}; shift 2 ;;
        --update-config) config_file=${2:?--update-config needs a JSON file}; shift 2 ;;
        --reset) reset=true; shift ;;
        --greengrass-root) gg_root=${2:?--greengrass-root needs a folder}; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

cli="$gg_root/bin/greengrass-cli"
[[ -x "$cli" ]] || die "$cli not found: deploy the aws.greengrass.Cli component first, or pass --greengrass-root"
[[ -d "$build_dir/recipes" && -d "$build_dir/artifacts/$COMPONENT" ]] \
    || die "no build in $build_dir: run python3 deploy/build.py --platform host --local (or copy deploy/out here)"

if [[ -z "$version" ]]; then
    versions=()
    for recipe in "$build_dir/recipes/$COMPONENT"-*.yaml; do
        [[ -e "$recipe" ]] || continue
        name=${recipe##*/}
        name=${name#"$COMPONENT"-}
        versions+=("${name%.yaml}")
    done
    [[ ${#versions[@]} -gt 0 ]] || die "no $COMPONENT recipe in $build_dir/recipes"
    version=$(printf '%s\n' "${versions[@]}" | sort -V | tail -n 1)
fi
[[ -f "$build_dir/recipes/$COMPONENT-$version.yaml" ]] || die "no recipe for version $version"
[[ -f "$build_dir/artifacts/$COMPONENT/$version/edge-agent.zip" ]] || die "no artifact for version $version"

args=(deployment create
      --recipeDir "$build_dir/recipes"
      --artifactDir "$build_dir/artifacts"
      --merge "$COMPONENT=$version")

if [[ -n "$config_file" || "$reset" == true ]]; then
    # greengrass-cli takes {"<component>": {"MERGE": {...}, "RESET": ["<JSON pointer>"]}};
    # "" as the pointer resets the whole configuration.
    update=$(python3 - "$COMPONENT" "$config_file" "$reset" <<'PY'
import json, sys
component, path, reset = sys.argv[1], sys.argv[2], sys.argv[3] == "true"
update = {}
if reset:
    update["RESET"] = [""]
if path:
    with open(path, encoding="utf-8") as f:
        merge = json.load(f)
    if not isinstance(merge, dict):
        sys.exit(f"{path}: the configuration to merge must be a JSON object")
    update["MERGE"] = merge
print(json.dumps({component: update}))
PY
    )
    args+=(--update-config "$update")
fi

echo "local-deploy: $COMPONENT $version from $build_dir" >&2
exec "$cli" "${args[@]}"
