#!/usr/bin/env bash
# The GPU measurements of issue 10, prepared: one run of up to 10 minutes on an H100/H200, and a
# second one that resumes where the first was cut off, if it was.
#
# On the development machine, once:
#   ../shared/gpu/wheels.sh                       # packs e3nn-jax, jraph, ase, cue, ... (.gpu-site.tar.xz)
#   mkdir -p .gpu-data && cp ../shared/data/aspirin/*.xyz .gpu-data/
#   grep -qx /.gpu-data/ .git/info/exclude || echo /.gpu-data/ >> .git/info/exclude
# then with the device tool: run(command="bash benchmarks/gpu_issue10.sh",
#   carry=[".gpu-site.tar.xz", ".gpu-data"], timeout_s=600). Results come back under $OUT.
#
# Steps, most important first (each time-boxed; a failing step is logged and the next one runs):
#   interaction     the interaction of issue 10 (N=10000, E=300000, C=64): cg and so2 under the
#                   default and the fused Pallas plan, L = 1..3, fwd / fwd+bwd / double (every
#                   case is checked against another plan, values and gradients, before it is timed);
#   baselines       the same workload with e3nn-jax and cuequivariance-jax;
#   model_step_*    the MACE training step (rMD17 aspirin, batch 32, 128 channels, lmax 3): equitens
#                   under the default plan with the e3nn-jax and cuequivariance-jax MACE, then
#                   equitens under the fused plan;
#   interaction_l4  L = 4, cg, so2 and cue (its Triton kernels are the largest: on the CPU,
#                   `python -m benchmarks.triton_compile` takes 5-27 s for each of them);
#   interaction_xla the fused primitive's XLA form (`interaction=xla`, the TPU's), L = 1..3: on
#                   the CPU it is the fastest double backward of cg;
#   tests           the fused interaction's tests, compiled by Triton (float64 and float32);
#   second_order    the unfused cg at L = 1, 2 (the unrolled sparse kernels) with the default
#                   plan, whose double backward is the slot expansion of its explicit contractions
#                   (fastest on the CPU), against fuse_gradients=false;
#   model_step_cg_sparse_terms_300  the MACE step with `cg_sparse_terms=300`: the lmax-3 product
#                   basis' A (x) A by pair products in mul_ir (the default before stop 25) instead
#                   of unrolled in ir_mul (the default now, 1.3x faster on the CPU).
# The tests step runs in one process (`-o addopts=` drops pyproject's pytest-xdist options: the
# GPU machine has no pytest-xdist, and one GPU is shared badly by several workers).
# The steps' limits add up to more than one call may run (600 s). If a call is cut short, the
# next call resumes at the first step that did not finish: run(command="bash
# benchmarks/gpu_issue10.sh STEP", ...), e.g. `... model_step_default`.
set -uo pipefail
FROM=${1:-interaction}
case "$FROM" in
  interaction | baselines | model_step_default | model_step_interaction_pallas) ;;
  interaction_l4 | interaction_xla | tests | second_order | model_step_cg_sparse_terms_300) ;;
  *) echo "unknown step '$FROM'; steps: interaction baselines model_step_default" \
    "model_step_interaction_pallas interaction_l4 interaction_xla tests second_order" \
    "model_step_cg_sparse_terms_300" >&2
    exit 2 ;;
esac
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
if [ -f .gpu-site.tar.xz ]; then
  tar -xJf .gpu-site.tar.xz -C /tmp
  export PYTHONPATH=/tmp/gpusite:$PWD
fi
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
python3 -c "import jax; print(jax.__version__, jax.devices())" 2>&1 | tee "$OUT/devices.txt"

started=false
step() {  # step NAME SECONDS COMMAND... (skipped before the step named FROM)
  local name=$1 seconds=$2
  shift 2
  [ "$name" = "$FROM" ] && started=true
  $started || { echo "== $name: skipped (resuming at $FROM)"; return; }
  echo "== $name (at most $seconds s): $*"
  local start=$SECONDS
  timeout "$seconds" "$@" > "$OUT/$name.log" 2>&1
  echo "== $name: exit $? after $((SECONDS - start)) s"
  tail -n 25 "$OUT/$name.log"
}

step interaction 270 python3 -m benchmarks.interaction --isolate impl --L 1,2,3 \
  --methods cg,so2 --plan default --plan interaction=pallas --out "$OUT/interaction_fused.json"
step baselines 120 python3 -m benchmarks.interaction --isolate impl --L 1,2,3 \
  --methods e3nn,cue --out "$OUT/interaction_baselines.json"
data=$(ls .gpu-data/*train*.xyz 2>/dev/null | head -n 1)
model_step() {  # model_step PLAN MODELS: the MACE step, as step model_step_<PLAN>
  local name="model_step_${1//[=,]/_}"
  if [ -z "$data" ]; then  # still a step, so that resuming at it goes on to the next ones
    step "$name" 5 echo "no .gpu-data/*train*.xyz: the model step is skipped (see the header)"
    return
  fi
  step "$name" 150 python3 benchmarks/model_step.py --data "$data" --batch 32 --channels 128 \
    --lmax 3 --models "$2" --plan "$1" --out "$OUT/$name.json"
}
model_step default equitens,e3nn,cue
model_step interaction=pallas equitens
step interaction_l4 180 python3 -m benchmarks.interaction --isolate impl --L 4 \
  --methods cg,so2,cue --plan default --plan interaction=pallas --out "$OUT/interaction_l4.json"
step interaction_xla 120 python3 -m benchmarks.interaction --isolate impl --L 1,2,3 \
  --methods cg,so2 --plan interaction=xla --out "$OUT/interaction_xla.json"
step tests 150 python3 -m pytest -q -x -o addopts= -p no:xdist -p no:cacheprovider \
  tests/tp/test_interaction.py tests/conv/test_so2_interaction.py tests/models/test_gpu_plan.py \
  -k "not lowers"
step second_order 120 python3 -m benchmarks.interaction --isolate impl --L 1,2 --methods cg \
  --plan interaction=unfused --plan interaction=unfused,fuse_gradients=false \
  --out "$OUT/interaction_second_order.json"
model_step cg_sparse_terms=300 equitens
