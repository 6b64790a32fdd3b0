"""β-TCVAE step cost vs a β-VAE of the same size, and the decomposition computed once vs thrice.

Usage (from the repository root)::

    python benchmarks/bench_tcvae.py            # batches 64, 256
    python benchmarks/bench_tcvae.py --write    # and update benchmarks/RESULTS.md

All variants train the MLP VAE 784-512-256-10 through the same ``make_train_step`` (Adam 1e-3)
with one call per step:

- β-VAE: ``beta_vae(beta=4.0)``;
- β-TCVAE: ``beta_tcvae(beta=6.0, dataset_size=60_000)``, whose ``tc_decomposition`` is one
  ``compose`` term with three named components (computed once);
- β-TCVAE, 3 terms: the same loss written as before that change, three scalar terms each
  calling ``tc_decomposition`` (what XLA's common-subexpression elimination has to undo).

FLOPs are XLA's ``cost_analysis()`` of each compiled step; steps/s are interleaved rounds.
Target (issue 19): β-TCVAE FLOPs and time within 1.1× of the β-VAE.
"""

import argparse

import _common as C
import jax
import optax

import vaekit
from vaekit.objectives import compose, kl_monitor, reconstruction_term, tc_decomposition

DATASET = 60_000


def tcvae_three_terms(beta: float = 6.0):
    def part(name):
        def term(out, batch, step):
            return getattr(tc_decomposition(out.z, out.mean, out.logvar, DATASET), name)
        return term

    return compose({
        "reconstruction_loss": reconstruction_term(vaekit.bernoulli_nll),
        "mutual_info": part("mutual_info"),
        "total_correlation": (part("total_correlation"), beta),
        "dimwise_kl": part("dimwise_kl"),
    }, reporters=[kl_monitor()])


OBJECTIVES = {
    "β-VAE": lambda: vaekit.beta_vae(beta=4.0),
    "β-TCVAE": lambda: vaekit.beta_tcvae(beta=6.0, dataset_size=DATASET),
    "β-TCVAE, 3 terms": tcvae_three_terms,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    C.add_common_args(parser)
    parser.set_defaults(batch=[64, 256])
    args = parser.parse_args()
    load_before = C.load()
    rows, raw = [], {}
    for batch in args.batch:
        batches = C.device_batches(batch, 8)
        runs, flops = {}, {}
        for name, objective in OBJECTIVES.items():
            train = vaekit.make_train_step(objective(), optax.adam(1e-3))
            state = train.init(C.mlp_vae(), jax.random.key(0))
            flops[name] = C.xla_flops(train.step.lower(state, batches[0]).compile())
            runs[name] = C.per_call_runner(train.step, state, batches)
            runs[name](20)
        rates = C.interleaved(runs, rounds=args.rounds, seconds=args.round_seconds)
        raw[batch] = {"rates": rates, "flops": flops, "ratios": {}}
        for name in OBJECTIVES:
            ratio = C.paired_ratio(rates[name], rates["β-VAE"])
            raw[batch]["ratios"][name] = ratio
            rate = C.fmt_rate(C.summary(rates[name]))
            rows.append(f"| {batch} | {name} | {flops[name] / 1e6:.2f} | "
                        f"{flops[name] / flops['β-VAE']:.3f}× | {rate} | {C.fmt_ratio(ratio)} |")
            print(rows[-1], flush=True)
    text = (
        C.header("β-TCVAE vs β-VAE step", "bench_tcvae.py", rounds=args.rounds,
                 seconds=args.round_seconds, load_before=load_before)
        + "\nMLP VAE 784-512-256-10, Adam, one call per step. β-TCVAE: `beta_tcvae(beta=6, "
        "dataset_size=60000)`, its KL decomposition one `compose` term of three named "
        "components; \"3 terms\": the same loss as three terms each computing the "
        "decomposition. FLOPs: XLA `cost_analysis()` of the compiled step. steps/s ratio to "
        "the β-VAE is the median (min–max) of per-round ratios (higher is faster). Target: "
        "β-TCVAE within 1.1× of the β-VAE in FLOPs and time.\n\n"
        "| batch | objective | MFLOP/step | FLOPs vs β-VAE | steps/s | speed vs β-VAE |\n"
        "| ---: | --- | ---: | ---: | ---: | ---: |\n" + "\n".join(rows)
    )
    print(text)
    C.save_json("bench_tcvae", {"load_before": load_before, "results": raw})
    if args.write:
        C.write_section("bench_tcvae", text)


if __name__ == "__main__":
    main()
