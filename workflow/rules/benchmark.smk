rule benchmark:
    input:
        models=lambda wildcards: sorted(
            {v["path"] for v in get_timed_variants(wildcards)}
        ),
        # timed on validation images: the headline's choice reads no test data
        data=paths.split_file("val"),
    output:
        table=f"{paths.BENCH}.csv",
        info=f"{paths.BENCH}.json",
    log:
        "logs/bench/{task}/{arch}.log",
    benchmark:
        "benchmarks/bench/{task}/{arch}.tsv"
    conda:
        "../envs/spade.yaml"
    # Snakemake caps threads at --cores: the timing job takes the whole machine, so no
    # other job runs beside it (cluster profiles set their own count with set-threads).
    threads: 1024
    resources:
        speed_benchmark=1,
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        variants=get_timed_variants,
        opts=config["benchmark"],
        device=config["device"],
    script:
        "../scripts/benchmark.py"


# The compressed-sensing baselines timed with the networks' benchmark settings (validation
# images, warm-up, rounds), the whole machine to themselves like every timing job.
rule benchmark_classical:
    input:
        lambdas=get_cs_lambdas,
        data=paths.split_file("val"),
    output:
        table=f"{paths.BENCH_CLASSICAL}.csv",
        info=f"{paths.BENCH_CLASSICAL}.json",
    log:
        "logs/bench/{task}/classical.log",
    benchmark:
        "benchmarks/bench/{task}/classical.tsv"
    conda:
        "../envs/spade.yaml"
    threads: 1024
    resources:
        speed_benchmark=1,
    params:
        opts=config["benchmark"],
    script:
        "../scripts/benchmark_cs.py"


# The same timing job again, for the first task x arch (config `benchmark.spread_check`): how
# far two benchmark jobs of one run disagree on the same variants (results/tables/timing_spread).
use rule benchmark as benchmark_again with:
    output:
        table=f"{paths.BENCH}.again.csv",
        info=f"{paths.BENCH}.again.json",
    log:
        "logs/bench/{task}/{arch}.again.log",
    benchmark:
        "benchmarks/bench/{task}/{arch}.again.tsv"


rule timing_spread:
    input:
        first=lambda wildcards: STUDY.spread_tables()[0],
        again=lambda wildcards: STUDY.spread_tables()[1],
    output:
        csv=report(
            "results/tables/timing_spread.csv",
            caption="../report/timing_spread.rst",
            category="Tables",
        ),
        md="results/tables/timing_spread.md",
    log:
        "logs/bench/timing_spread.log",
    conda:
        "../envs/spade.yaml"
    script:
        "../scripts/timing_spread.py"
