# Every variant is scored on the test split (and the MRI external set, the shifted test
# sets) for the summary, and on the validation split, the only numbers any setting (and the
# headline) may be chosen on.


rule evaluate_classical:
    input:
        data=paths.DATA,
    output:
        metrics=f"{paths.METRICS_CLASSICAL}.csv",
        examples=f"{paths.METRICS_CLASSICAL}.npz",
    log:
        "logs/evaluate/{split}/{task}/classical.log",
    benchmark:
        "benchmarks/evaluate/{split}/{task}/classical.tsv"
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


# Compressed sensing (MRI, spade.study.classical): lambda chosen per method on the validation
# split, then every split scored with that lambda.
rule choose_cs_lambda:
    input:
        data=paths.split_file("val"),
    output:
        paths.CS_LAMBDA,
    log:
        "logs/classical/{task}/{method}.log",
    benchmark:
        "benchmarks/classical/{task}/{method}.tsv"
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["evaluate"]
    params:
        cs=STUDY.cs_options(),
        convention=get_convention,
    script:
        "../scripts/choose_cs.py"


rule evaluate_cs:
    input:
        data=paths.DATA,
        lamda=paths.CS_LAMBDA,
    output:
        metrics=f"{paths.METRICS_CS}.csv",
        examples=f"{paths.METRICS_CS}.npz",
    log:
        "logs/evaluate/{split}/{task}/cs-{method}.log",
    benchmark:
        "benchmarks/evaluate/{split}/{task}/cs-{method}.tsv"
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["evaluate"]
    params:
        examples=config["evaluate"]["examples"],
        convention=get_convention,
    script:
        "../scripts/evaluate_cs.py"


# One job per split x task x arch scores every network of the arch in one process (the
# unpruned network, its prior-off control, every pruned variant), each to its own files:
# process start-up, not scoring, was most of the time of one job per variant.
rule evaluate_networks:
    input:
        models=get_evaluation_models,
        data=paths.DATA,
    output:
        STUDY.evaluation_outputs(shifted=False),
    log:
        "logs/evaluate/{split}/{task}/{arch}.log",
    benchmark:
        "benchmarks/evaluate/{split}/{task}/{arch}.tsv"
    wildcard_constraints:
        split="test|val",
        arch=NON_DEQ_ARCHS,
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["evaluate"]
    resources:
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        jobs=get_evaluation_jobs,
        device=config["device"],
        examples=config["evaluate"]["examples"],
        convention=get_convention,
    script:
        "../scripts/evaluate_networks.py"


# The external and shifted test sets: the variants robustness compares (spade.study).
rule evaluate_networks_shifted:
    input:
        models=get_evaluation_models,
        data=paths.DATA,
    output:
        STUDY.evaluation_outputs(shifted=True),
    log:
        "logs/evaluate/{split}/{task}/{arch}.log",
    benchmark:
        "benchmarks/evaluate/{split}/{task}/{arch}.tsv"
    wildcard_constraints:
        split="external|shift_[a-z0-9]+",
        arch=NON_DEQ_ARCHS,
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["evaluate"]
    resources:
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        jobs=get_evaluation_jobs,
        device=config["device"],
        examples=config["evaluate"]["examples"],
        convention=get_convention,
    script:
        "../scripts/evaluate_networks.py"


# The DEQ's: the same jobs, with the DEQ-only recipes' files.
use rule evaluate_networks as evaluate_deq_networks with:
    output:
        STUDY.evaluation_outputs(shifted=False, arch="deq"),
    wildcard_constraints:
        split="test|val",
        arch="deq",


use rule evaluate_networks_shifted as evaluate_deq_networks_shifted with:
    output:
        STUDY.evaluation_outputs(shifted=True, arch="deq"),
    wildcard_constraints:
        split="external|shift_[a-z0-9]+",
        arch="deq",


# The repeats with further seeds (`seeds`): validation and test scores of their networks.
if SEEDED:

    use rule evaluate_networks as evaluate_seeded with:
        output:
            SEEDED.evaluation_outputs(shifted=False),
        log:
            "logs/seeds/{seed}/evaluate/{split}/{task}/{arch}.log",
        benchmark:
            "benchmarks/seeds/{seed}/evaluate/{split}/{task}/{arch}.tsv"
        wildcard_constraints:
            split="test|val",
