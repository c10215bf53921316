#!/usr/bin/env bash
# The GPU measurements of issue 10 in one prepared run (about 8 minutes on an H100/H200).
#
# On the development machine, once:
#   ../shared/gpu/wheels.sh                       # packs e3nn-jax, jraph, ase, cue, ... (.gpu-site.tar.xz)
#   mkdir -p .gpu-data && cp ../shared/data/aspirin/*.xyz .gpu-data/
#   grep -qx /.gpu-data/ .git/info/exclude || echo /.gpu-data/ >> .git/info/exclude
# then with the device tool: run(command="bash benchmarks/gpu_issue10.sh",
#   carry=[".gpu-site.tar.xz", ".gpu-data"], timeout_s=600). Results come back under $OUT.
#
# Steps (each time-boxed; a failing step is logged and the next one runs):
#   1. the fused interaction's tests on the GPU: the same tests as on the CPU, where the Pallas
#      kernels run in interpret mode; here they compile with Triton and run (float64 and float32);
#   2. the interaction of issue 10 (N=10000, E=300000, C=64): cg and so2 under the default plan
#      and the fused Pallas plan, e3nn-jax and cuequivariance-jax, L = 1..3, fwd / fwd+bwd / double;
#   3. L = 4, the same implementations (its Triton kernels are the largest: compile time shows);
#   4. the MACE training step (rMD17 aspirin, batch 32, 128 channels, lmax 3): equitens under the
#      default and the fused plan, the e3nn-jax and the cuequivariance-jax MACE.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
if [ -f .gpu-site.tar.xz ]; then
  tar -xJf .gpu-site.tar.xz -C /tmp
  export PYTHONPATH=/tmp/gpusite:$PWD
fi
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
python3 -c "import jax; print(jax.__version__, jax.devices())" 2>&1 | tee "$OUT/devices.txt"

step() {  # step NAME SECONDS COMMAND...
  local name=$1 seconds=$2
  shift 2
  echo "== $name (at most $seconds s): $*"
  local start=$SECONDS
  timeout "$seconds" "$@" > "$OUT/$name.log" 2>&1
  echo "== $name: exit $? after $((SECONDS - start)) s"
  tail -n 25 "$OUT/$name.log"
}

step tests 150 python3 -m pytest -q -x -p no:cacheprovider tests/tp/test_interaction.py \
  tests/conv/test_so2_interaction.py tests/models/test_gpu_plan.py -k "not lowers"
step interaction 270 python3 -m benchmarks.interaction --isolate impl --L 1,2,3 \
  --methods cg,so2 --plan default --plan interaction=pallas --out "$OUT/interaction_fused.json"
step baselines 120 python3 -m benchmarks.interaction --isolate impl --L 1,2,3 \
  --methods e3nn,cue --out "$OUT/interaction_baselines.json"
step interaction_l4 120 python3 -m benchmarks.interaction --isolate impl --L 4 \
  --methods cg,so2,cue --plan default --plan interaction=pallas --out "$OUT/interaction_l4.json"
if [ -d .gpu-data ]; then
  data=$(ls .gpu-data/*train*.xyz 2>/dev/null | head -n 1)
  for plan in default interaction=pallas; do
    models=equitens
    [ "$plan" = default ] && models=equitens,e3nn,cue
    step "model_step_${plan//[=,]/_}" 150 python3 benchmarks/model_step.py --data "$data" \
      --batch 32 --channels 128 --lmax 3 --models "$models" --plan "$plan" \
      --out "$OUT/model_step_${plan//[=,]/_}.json"
  done
fi
