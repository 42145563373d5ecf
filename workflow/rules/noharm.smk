# The no-harm check (config `no_harm_check`): each label-free strategy of `strategies`
# fine-tunes the unpruned network itself, which needs no repair, with its default settings;
# scored on the validation split against that network. The test split is never read here.


rule no_harm_fit:
    input:
        unpack(get_no_harm_inputs),
    output:
        model=f"{paths.NO_HARM}.pt",
        history=f"{paths.NO_HARM}_history.csv",
    log:
        "logs/no_harm/{task}/{arch}/{strategy}.log",
    benchmark:
        "benchmarks/no_harm/{task}/{arch}/{strategy}.tsv"
    wildcard_constraints:
        strategy="|".join(STUDY.no_harm_strategies()) or "no-label-free-strategy",
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["finetune"]
    resources:
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        device=config["device"],
        opts=get_fit_options("finetune"),
        seed=config["seed"],
        taylor_images=config["taylor_images"],
        state=f"{paths.NO_HARM}.state.pt",
    script:
        "../scripts/finetune.py"


rule no_harm_table:
    input:
        unpack(get_no_harm_table_inputs),
    output:
        csv=report(
            "results/tables/no_harm.csv",
            caption="../report/no_harm.rst",
            category="Tables",
        ),
        md="results/tables/no_harm.md",
    log:
        "logs/no_harm/table.log",
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["evaluate"]
    params:
        fits=STUDY.no_harm_fits(),
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/no_harm_table.py"
