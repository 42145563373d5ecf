rule benchmark:
    input:
        models=lambda wildcards: sorted(
            {v["path"] for v in get_benchmark_variants(wildcards)}
        ),
        # timed on validation images: the headline's choice reads no test data
        data=paths.split_file("val"),
    output:
        table=f"{paths.BENCH}.csv",
        info=f"{paths.BENCH}.json",
    log:
        "logs/bench/{task}/{arch}.log",
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
        variants=get_benchmark_variants,
        opts=config["benchmark"],
        device=config["device"],
    script:
        "../scripts/benchmark.py"
