# Speed at the paper's scale (config `scale_timing`): the study's MRI networks and the
# paper-size ones, random weights, DEQs at fixed iterations, each pruned at every ratio
# with exact and rounded widths and timed side by side with its unpruned network. Timed
# like the benchmark: the whole machine, one timing job at a time.


rule time_scale:
    output:
        table="results/scale/{scale}/{arch}.csv",
    log:
        "logs/scale/{scale}/{arch}.log",
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
        setting=lambda wildcards: scale_specs()[(wildcards.scale, wildcards.arch)],
        opts=lambda wildcards: config["scale_timing"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/time_scale.py"


rule scale_table:
    input:
        tables=lambda wildcards: [
            f"results/scale/{scale}/{arch}.csv" for scale, arch in scale_specs()
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
