#!/usr/bin/env bash
# All GPU figures of issue 18 / issue 11 in one run (< 8 minutes on one H100/H200-class GPU), written to one JSON.
#
#   bash benchmarks/gpu.sh [OUT.json]          # default: gpu_benchmarks.json in the current directory
#
# Runs from a checkout on a fresh machine whose Python already has a CUDA build of torch (it is never installed or
# upgraded here): makes a venv that sees the system site-packages, installs this repository into it (--no-deps),
# installs whatever other dependency is missing with torch pinned to the installed version (needs a package
# index; offline, the parts whose imports fail are reported as failed), generates its own synthetic data, then:
#   1. train_step, eager: XKD tiny, XKD ViT-B, MAViL ViT-B; bf16 autocast, fused AdamW; clips/s, FLOP/s as a
#      fraction of the bf16 matmul peak measured in the same run, peak memory; masked vs unmasked ViT-B encoder;
#   2. train_step, compiled (regional torch.compile of the Transformer blocks), same configs;
#   3. data_wait: XKD ViT-B pretraining on paper-size synthetic clips (112², 8 fps, 16 kHz) with one loader worker
#      per core, views on the CPU workers vs on the GPU (data.augment_on=device): the data-wait fraction;
#   4. decode_torchcodec: PyAV vs torchcodec (CPU) vs torchcodec-cuda (NVDEC) on the same windows: clips/s and the
#      distance of torchcodec's frames/audio from PyAV's (xmodal.data.io_torchcodec).
# Each part has its own time limit, so the whole script stays under 8 minutes even when a part hangs.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
OUT_JSON=$(realpath -m "${1:-gpu_benchmarks.json}")
PY=${PYTHON:-python3}
WORK=$(mktemp -d /tmp/xmodal_gpu.XXXXXX)
START=$(date +%s)
log() { echo "[gpu.sh $(( $(date +%s) - START ))s] $*"; }

"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || {
  echo "gpu.sh: $PY has no CUDA torch (python -c 'import torch; print(torch.cuda.is_available())'); set PYTHON=" >&2
  exit 1
}
TORCH_VERSION=$("$PY" -c "import torch; print(torch.__version__)")
log "torch $TORCH_VERSION on $("$PY" -c "import torch; print(torch.cuda.get_device_name())")"

"$PY" -m venv --system-site-packages "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install -q --no-deps --no-build-isolation "$REPO" >"$WORK/pip.log" 2>&1 \
  || "$VPY" -m pip install -q --no-deps "$REPO" >>"$WORK/pip.log" 2>&1 \
  || log "installing the repository failed (see $WORK/pip.log); using PYTHONPATH=src"
export PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
MISSING=$("$VPY" - <<'EOF'
import importlib.util
mods = {"numpy": "numpy", "scipy": "scipy", "av": "av", "soundfile": "soundfile", "lightning": "lightning",
        "torchmetrics": "torchmetrics", "sklearn": "scikit-learn", "safetensors": "safetensors", "rich": "rich",
        "matplotlib": "matplotlib", "yaml": "pyyaml", "tensorboard": "tensorboard", "faiss": "faiss-cpu"}
print(" ".join(pkg for mod, pkg in mods.items() if importlib.util.find_spec(mod) is None))
EOF
)
echo "torch==$TORCH_VERSION" >"$WORK/constraints.txt"
if [ -n "$MISSING" ]; then
  log "installing missing dependencies: $MISSING (torch pinned to $TORCH_VERSION)"
  "$VPY" -m pip install -q -c "$WORK/constraints.txt" $MISSING >>"$WORK/pip.log" 2>&1 \
    || log "could not install $MISSING (offline?); parts that need them will fail (see $WORK/pip.log)"
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
NPROC=$(nproc)
STATUS="$WORK/status.txt"
: >"$STATUS"
part() {  # part NAME LIMIT_S COMMAND...
  local name=$1 limit=$2; shift 2
  log "$name (limit ${limit}s)"
  timeout "$limit" "$@" >"$WORK/$name.log" 2>&1
  local rc=$?
  echo "$name $rc" >>"$STATUS"
  tail -n 8 "$WORK/$name.log"
  log "$name: exit $rc"
}

part train_step_eager 170 "$VPY" benchmarks/train_step.py --device cuda --precision bf16 --fused --threads 4 \
  --configs xkd_tiny xkd_vitb xkd_audioset_vitl mavil_vitb --batch-size 256 128 64 64 --steps 10 --warmup 3 \
  --matmul-size 8192 \
  --mask-batch 64 --json "$WORK/train_step_eager.json"
part train_step_compiled 150 "$VPY" benchmarks/train_step.py --device cuda --precision bf16 --fused --compile \
  --threads 4 --configs xkd_vitb mavil_vitb --batch-size 128 64 --steps 10 --warmup 3 --matmul-size 8192 \
  --skip masking --json "$WORK/train_step_compiled.json"
part synth 40 "$VPY" -m xmodal.cli.main data synth --out "$WORK/synth112" --clips 384 --workers "$NPROC" \
  --splits 1.0 0.0 0.0
"$VPY" -c "import torchcodec" >/dev/null 2>&1 || "$VPY" -m pip install -q -c "$WORK/constraints.txt" torchcodec \
  >>"$WORK/pip.log" 2>&1 || log "torchcodec not installable; the decode part reports it"
part decode_torchcodec 60 "$VPY" benchmarks/decode_torchcodec.py --data "$WORK/synth112" --clips 48 --size 112 \
  --json "$WORK/decode_torchcodec.json"
part data_wait 120 "$VPY" benchmarks/data_wait.py --data "$WORK/synth112" --config xkd/kinetics400 --device cuda \
  --batch-size 64 --workers "$NPROC" --augment-on cpu device --steps 20 --skip 3 --threads 4 \
  --json "$WORK/data_wait.json"

"$VPY" - "$WORK" "$OUT_JSON" "$((  $(date +%s) - START ))" <<'EOF'
import json, sys
from pathlib import Path
work, out, seconds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
status = dict(line.split() for line in (work / "status.txt").read_text().splitlines())
report = {"benchmark": "gpu.sh", "wall_seconds": seconds, "exit_codes": {k: int(v) for k, v in status.items()}}
for name in ("train_step_eager", "train_step_compiled", "decode_torchcodec", "data_wait"):
    f = work / f"{name}.json"
    report[name] = json.loads(f.read_text()) if f.is_file() else {"error": (work / f"{name}.log").read_text()[-3000:]}
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(report, indent=2) + "\n")
EOF
log "wrote $OUT_JSON"
