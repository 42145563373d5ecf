# Every variant is scored on the test split (and the MRI external set) for the summary,
# and on the validation split for `snakemake validation`, the only numbers any setting
# may be chosen on.


rule evaluate_classical:
    input:
        data=paths.DATA,
    output:
        metrics=f"{paths.METRICS_CLASSICAL}.csv",
        examples=f"{paths.METRICS_CLASSICAL}.npz",
    log:
        "logs/evaluate/{split}/{task}/classical.log",
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["evaluate"]
    params:
        device="cpu",
        examples=config["evaluate"]["examples"],
        convention=get_convention,
        prior_off=False,
    script:
        "../scripts/evaluate.py"


rule evaluate_network:
    input:
        model=paths.UNPRUNED_MODEL,
        data=paths.DATA,
    output:
        metrics=f"{paths.METRICS_NETWORK}.csv",
        examples=f"{paths.METRICS_NETWORK}.npz",
    log:
        "logs/evaluate/{split}/{task}/{arch}/{kind}.log",
    benchmark:
        "benchmarks/evaluate/{split}/{task}/{arch}/{kind}.tsv"
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["evaluate"]
    resources:
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        device=config["device"],
        examples=config["evaluate"]["examples"],
        convention=get_convention,
        # the control: the same network with every prior switched to the identity
        prior_off=lambda wildcards: wildcards.kind == PRIOR_OFF,
    script:
        "../scripts/evaluate.py"


rule evaluate_variant:
    input:
        model=get_variant_model,
        data=paths.DATA,
    output:
        metrics=f"{paths.METRICS_VARIANT}.csv",
        examples=f"{paths.METRICS_VARIANT}.npz",
    log:
        "logs/evaluate/{split}/{task}/{arch}/{key}/{strategy}.log",
    benchmark:
        "benchmarks/evaluate/{split}/{task}/{arch}/{key}/{strategy}.tsv"
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["evaluate"]
    resources:
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        device=config["device"],
        examples=config["evaluate"]["examples"],
        convention=get_convention,
        prior_off=False,
    script:
        "../scripts/evaluate.py"
