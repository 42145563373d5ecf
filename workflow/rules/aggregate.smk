rule summary:
    input:
        metrics=STUDY.summary_metrics(),
        # the headline is chosen on these, then reported on test
        validation=STUDY.metric_paths("val"),
        bench=STUDY.bench_tables(),
        # what each variant's fit cost (wall time, peak memory, data), from its metadata
        models=STUDY.cost_models(),
        # the no-harm check's table (label-free strategies on the unpruned network; validation)
        no_harm=["results/tables/no_harm.md"] if STUDY.no_harm_fits() else [],
    output:
        csv=report(
            "results/tables/summary.csv",
            caption="../report/summary.rst",
            category="Tables",
        ),
        md="results/tables/summary.md",
        # labelled extra timing rows (looser DEQ tolerance, channels-last, compile)
        extras="results/tables/extra_timings.csv",
        headline="results/tables/headline.csv",
        # each test subject's (photograph's) mean PSNR per variant
        per_unit_csv="results/tables/per_subject.csv",
        per_unit_md="results/tables/per_subject.md",
    log:
        "logs/aggregate/summary.log",
    conda:
        "../envs/spade.yaml"
    params:
        seed=config["seed"],
        speed_target=config["benchmark"].get("speed_target"),
    script:
        "../scripts/summary.py"


# `snakemake --cores all validation`: every variant scored on the validation split. Any
# setting is chosen on these numbers (label-free settings on their own validation loss in
# the training histories), never on the test split, which the summary alone reads.
rule validation:
    input:
        metrics=STUDY.metric_paths("val"),
    output:
        csv="results/tables/validation.csv",
        md="results/tables/validation.md",
    log:
        "logs/aggregate/validation.log",
    conda:
        "../envs/spade.yaml"
    params:
        seed=config["seed"],
    script:
        "../scripts/summary.py"


rule figures:
    input:
        summary="results/tables/summary.csv",
    output:
        ratio=report(
            "results/figures/psnr_vs_ratio.png",
            caption="../report/psnr_vs_ratio.rst",
            category="Figures",
        ),
        speedup=report(
            "results/figures/speedup_vs_ratio.png",
            caption="../report/speedup_vs_ratio.rst",
            category="Figures",
        ),
        latency=report(
            "results/figures/psnr_vs_latency.png",
            caption="../report/psnr_vs_latency.rst",
            category="Figures",
        ),
        tradeoff=report(
            "results/figures/psnr_vs_speedup.png",
            caption="../report/psnr_vs_speedup.rst",
            category="Figures",
        ),
    log:
        "logs/aggregate/figures.log",
    conda:
        "../envs/spade.yaml"
    script:
        "../scripts/figures.py"


rule examples:
    input:
        unpack(get_example_inputs),
    output:
        report(
            "results/figures/examples_{task}.png",
            caption="../report/examples.rst",
            category="Figures",
        ),
    log:
        "logs/aggregate/examples_{task}.log",
    conda:
        "../envs/spade.yaml"
    script:
        "../scripts/examples.py"


# The config that ran, after every --configfile and --config: what each rule received
# (the budgets per stage, task and arch included). Rewritten whenever a value changes.
rule resolved_config:
    output:
        report(
            "results/config.yaml",
            caption="../report/config.rst",
            category="Config",
        ),
    log:
        "logs/aggregate/config.log",
    conda:
        "../envs/spade.yaml"
    params:
        files=[str(p) for p in workflow.overwrite_configfiles] or ["config/config.yaml"],
        config=config,
        budgets=STUDY.budgets(),
    script:
        "../scripts/resolved_config.py"


# Every variant's PSNR drop on the shifted test sets (config `shifts`) and the external set.
rule robustness:
    input:
        summary="results/tables/summary.csv",
    output:
        csv=report(
            "results/tables/robustness.csv",
            caption="../report/robustness.rst",
            category="Tables",
        ),
        md="results/tables/robustness.md",
        figure=report(
            "results/figures/robustness.png",
            caption="../report/robustness.rst",
            category="Figures",
        ),
    log:
        "logs/aggregate/robustness.log",
    conda:
        "../envs/spade.yaml"
    script:
        "../scripts/robustness.py"


# Every fit's validation curve (validation PSNR with targets, its own loss without) and the
# epoch it kept: where each fit's epochs came from.
rule fit_curves:
    input:
        models=STUDY.cost_models(),
    output:
        csv="results/tables/fit_curves.csv",
        png=report(
            "results/figures/fit_curves.png",
            caption="../report/fit_curves.rst",
            category="Figures",
        ),
    log:
        "logs/aggregate/fit_curves.log",
    conda:
        "../envs/spade.yaml"
    script:
        "../scripts/fit_curves.py"


# The comparison repeated over seeds of training and fine-tuning (`seeds`): every seed's
# paired difference from its own unpruned network, the spread across seeds beside each
# seed's bootstrap interval.
rule seeds:
    input:
        unpack(get_seed_metrics),
    output:
        csv=report(
            "results/tables/seeds.csv",
            caption="../report/seeds.rst",
            category="Tables",
        ),
        md="results/tables/seeds.md",
    log:
        "logs/aggregate/seeds.log",
    conda:
        "../envs/spade.yaml"
    params:
        seed=config["seed"],
    script:
        "../scripts/seeds.py"
