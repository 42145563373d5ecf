# Speed at the paper's scale (config `scale_timing`): the study's MRI networks and the
# paper-size ones, random weights, DEQs at fixed iterations, each pruned at every ratio
# with exact and rounded widths and timed side by side with its unpruned network. Timed
# like the benchmark: the whole machine, one timing job at a time.


rule time_scale:
    output:
        table=paths.SCALE,
    log:
        "logs/scale/{scale}/{arch}.log",
    benchmark:
        "benchmarks/scale/{scale}/{arch}.tsv"
    wildcard_constraints:
        scale="[A-Za-z0-9_]+",
        arch="du|deq|varnet",
    conda:
        "../envs/spade.yaml"
    threads: 1024
    resources:
        speed_benchmark=1,
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        setting=get_scale_setting,
        opts=lambda wildcards: config["scale_timing"],
        # auto widths are timed in the deploy runtime, as the study's own
        width_runtime=STUDY.deploy_runtime,
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/time_scale.py"


rule scale_table:
    input:
        tables=lambda wildcards: [
            paths.SCALE.format(scale=scale, arch=arch)
            for scale, arch in STUDY.scale_specs()
        ],
    output:
        csv=report(
            "results/tables/scale.csv",
            caption="../report/scale.rst",
            category="Tables",
        ),
        md="results/tables/scale.md",
    log:
        "logs/scale/table.log",
    conda:
        "../envs/spade.yaml"
    script:
        "../scripts/scale_table.py"
