# The label-free ablation (config `label_free_ablation`): self-supervised settings (loss,
# transform group, consistency weight, SSDU split, budget) fine-tune one pruned network
# each on unlabelled measurements; all are scored on validation data only, and chosen by a
# label-free score. The test split is never read here.


rule label_free_fit:
    input:
        pruned=get_label_free_pruned,
        train=get_label_free_train,
        val=paths.split_file("val"),
    output:
        model=f"{paths.LABEL_FREE}.pt",
        history=f"{paths.LABEL_FREE}_history.csv",
    log:
        "logs/labelfree/{task}/{arch}/{setting}.log",
    benchmark:
        "benchmarks/labelfree/{task}/{arch}/{setting}.tsv"
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["finetune"]
    resources:
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        device=config["device"],
        strategy="selfsup",
        opts=get_label_free_options,
        data_fraction=get_label_free_fraction,
        seed=config["seed"],
        taylor_images=config["taylor_images"],
        state=f"{paths.LABEL_FREE}.state.pt",
    script:
        "../scripts/finetune.py"


rule label_free_table:
    input:
        unpack(get_label_free_inputs),
    output:
        csv=report(
            "results/tables/label_free.csv",
            caption="../report/label_free.rst",
            category="Tables",
        ),
        md="results/tables/label_free.md",
    log:
        "logs/labelfree/table.log",
    conda:
        "../envs/spade.yaml"
    params:
        # (input key, setting name) of each network scored
        settings=lambda wildcards: [(k, n) for k, _, n in STUDY.label_free_settings()],
        seed=config["seed"],
        score=config["finetune"]["ssdu"],
        device=config["device"],
        # the split every setting's loss is chosen on (the data curve's settings aside)
        label_free_split=STUDY.label_free_split,
    script:
        "../scripts/label_free_table.py"
