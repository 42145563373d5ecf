rule make_dataset:
    input:
        data_sources,
    output:
        train=protect("results/data/{task}/train.h5"),
        val=protect("results/data/{task}/val.h5"),
        test=protect("results/data/{task}/test.h5"),
        # measurements only (no ground truth stored): the label-free strategies' data
        unlabelled=protect("results/data/{task}/unlabelled.h5"),
        info="results/data/{task}/info.json",
    log:
        "logs/data/{task}.log",
    benchmark:
        "benchmarks/data/{task}.tsv"
    conda:
        "../envs/spade.yaml"
    params:
        cfg=lambda wildcards: config["data"][wildcards.task],
        seed=config["seed"],
    script:
        "../scripts/make_dataset.py"


rule make_external:
    output:
        external="results/data/{task}/external.h5",
    log:
        "logs/data/{task}_external.log",
    wildcard_constraints:
        task="mri",
    conda:
        "../envs/spade.yaml"
    params:
        cfg=lambda wildcards: config["data"][wildcards.task],
        seed=config["seed"],
    script:
        "../scripts/make_external.py"


# A shifted test set (config `shifts`): the test images measured under other data settings.
rule make_shift:
    input:
        data_sources,
    output:
        "results/data/{task}/shift_{shift}.h5",
    log:
        "logs/data/{task}_shift_{shift}.log",
    conda:
        "../envs/spade.yaml"
    params:
        cfg=lambda wildcards: config["data"][wildcards.task],
        overrides=lambda wildcards: config["shifts"][wildcards.task][wildcards.shift],
        seed=config["seed"],
    script:
        "../scripts/make_shift.py"
