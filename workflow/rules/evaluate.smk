rule evaluate_baseline:
    input:
        test="results/data/{task}/test.h5",
    output:
        metrics="results/metrics/{task}/baseline.csv",
        examples="results/metrics/{task}/baseline.npz",
    log:
        "logs/evaluate/{task}/baseline.log",
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["evaluate"]
    resources:
        gpu=gpu_slots(),
    params:
        device=config["device"],
        examples=config["evaluate"]["examples"],
        convention=evaluate_convention,
    script:
        "../scripts/evaluate.py"


rule evaluate_base:
    input:
        model="results/models/{task}/{arch}/base.pt",
        test="results/data/{task}/test.h5",
    output:
        metrics="results/metrics/{task}/{arch}/base.csv",
        examples="results/metrics/{task}/{arch}/base.npz",
    log:
        "logs/evaluate/{task}/{arch}/base.log",
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["evaluate"]
    resources:
        gpu=gpu_slots(),
    params:
        device=config["device"],
        examples=config["evaluate"]["examples"],
        convention=evaluate_convention,
    script:
        "../scripts/evaluate.py"


rule evaluate_variant:
    input:
        model=evaluate_model,
        test="results/data/{task}/test.h5",
    output:
        metrics="results/metrics/{task}/{arch}/{criterion}-r{ratio}/{strategy}.csv",
        examples="results/metrics/{task}/{arch}/{criterion}-r{ratio}/{strategy}.npz",
    log:
        "logs/evaluate/{task}/{arch}/{criterion}-r{ratio}/{strategy}.log",
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["evaluate"]
    resources:
        gpu=gpu_slots(),
    params:
        device=config["device"],
        examples=config["evaluate"]["examples"],
        convention=evaluate_convention,
    script:
        "../scripts/evaluate.py"
