rule make_dataset:
    input:
        data_sources,
    output:
        train="results/data/{task}/train.h5",
        val="results/data/{task}/val.h5",
        test="results/data/{task}/test.h5",
        info="results/data/{task}/info.json",
    log:
        "logs/data/{task}.log",
    conda:
        "../envs/spade.yaml"
    params:
        cfg=lambda wildcards: config["data"][wildcards.task],
        seed=config["seed"],
    script:
        "../scripts/make_dataset.py"
