# Every variant is scored on the test split (and the MRI external set) for the summary,
# and on the validation split for `snakemake validation`, the only numbers any setting
# may be chosen on.


rule evaluate_classical:
    input:
        data="results/data/{task}/{split}.h5",
    output:
        metrics="results/metrics/{split}/{task}/classical.csv",
        examples="results/metrics/{split}/{task}/classical.npz",
    log:
        "logs/evaluate/{split}/{task}/classical.log",
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["evaluate"]
    params:
        device="cpu",
        examples=config["evaluate"]["examples"],
        convention=evaluate_convention,
        prior_off=False,
    script:
        "../scripts/evaluate.py"


rule evaluate_network:
    input:
        model="results/models/{task}/{arch}/unpruned.pt",
        data="results/data/{task}/{split}.h5",
    output:
        metrics="results/metrics/{split}/{task}/{arch}/{kind}.csv",
        examples="results/metrics/{split}/{task}/{arch}/{kind}.npz",
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
        convention=evaluate_convention,
        # the control: the same network with every prior switched to the identity
        prior_off=lambda wildcards: wildcards.kind == PRIOR_OFF,
    script:
        "../scripts/evaluate.py"


rule evaluate_variant:
    input:
        model=evaluate_model,
        data="results/data/{task}/{split}.h5",
    output:
        metrics="results/metrics/{split}/{task}/{arch}/{criterion}-r{ratio}/{strategy}.csv",
        examples="results/metrics/{split}/{task}/{arch}/{criterion}-r{ratio}/{strategy}.npz",
    log:
        "logs/evaluate/{split}/{task}/{arch}/{criterion}-r{ratio}/{strategy}.log",
    benchmark:
        "benchmarks/evaluate/{split}/{task}/{arch}/{criterion}-r{ratio}/{strategy}.tsv"
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["evaluate"]
    resources:
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        device=config["device"],
        examples=config["evaluate"]["examples"],
        convention=evaluate_convention,
        prior_off=False,
    script:
        "../scripts/evaluate.py"
