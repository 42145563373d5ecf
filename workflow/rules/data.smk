rule make_dataset:
    input:
        get_data_sources,
    output:
        train=protect(paths.split_file("train")),
        val=protect(paths.split_file("val")),
        test=protect(paths.split_file("test")),
        # measurements only (no ground truth stored): the label-free strategies' data
        unlabelled=protect(paths.split_file("unlabelled")),
        info=paths.DATA_INFO,
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
        external=paths.split_file("external"),
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
        get_data_sources,
    output:
        paths.split_file("shift_{shift}"),
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
