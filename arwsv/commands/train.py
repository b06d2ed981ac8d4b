"""``arwsv train RECIPE.yaml [--key=value ...] [--resume] [--seed S] [--device cpu|cuda]``."""

from __future__ import annotations

from arwsv.errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train an embedding extractor (baseline or ARW) from a recipe",
                       description="Train as RECIPE.yaml says. Any --key=value (dots for nesting, e.g. "
                                   "--reweighting.region_priors=4) overrides a recipe key.")
    p.add_argument("recipe", help="hyperpyyaml recipe, e.g. recipes/toy/arw.yaml")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint of output_folder")
    p.add_argument("--seed", type=int, help="overrides the recipe's seed")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--num-workers", type=int, default=None,
                   help="DataLoader processes reading and augmenting audio (0: in the training process); default: "
                        "the recipe's num_workers, else min(8, cores) with --device cuda and 0 on CPU; results do "
                        "not depend on it")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run, takes_overrides=True)


def run(args) -> int:
    import torch

    from arwsv.training.recipe import load_recipe, parse_overrides, recipe_seed
    from arwsv.training.run import run_training, seed_everything

    if args.num_workers is not None and args.num_workers < 0:
        raise InputError("--num-workers must be >= 0")
    overrides = parse_overrides(args.overrides)
    if args.seed is not None:
        overrides["seed"] = args.seed
    import os

    from arwsv.training import distributed as ddp
    from arwsv.errors import TrainingError

    if args.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is visible")
    device = args.device
    if device == "cuda" and "LOCAL_RANK" in os.environ:  # torchrun: one GPU per process
        device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
        torch.cuda.set_device(device)
    seed_everything(recipe_seed(args.recipe, overrides))  # before the recipe builds (initial weights)
    hparams, resolved = load_recipe(args.recipe, overrides)
    if hparams["precision"] == "fp16" and not device.startswith("cuda"):
        raise InputError("precision: fp16 needs --device cuda (CPU autocast has no fp16 kernels for this model); "
                         "use bf16 or fp32", args.recipe)
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # fixed crop length: cuDNN's fastest kernels, chosen once
    timeout = hparams.get("ddp_timeout_s", 600)
    try:
        ddp.init_from_env(device, timeout)
        report = run_training(hparams, resolved, resume=args.resume, device=device, progress=not args.quiet,
                              num_workers=args.num_workers)
        ddp.barrier()  # leave together: a rank that tears down while a peer still writes can abort it
        main_rank = ddp.is_main()  # asked before leaving the group: afterwards every process is rank 0
    except InputError as err:
        if err.path is None:  # a recipe key's value (n_speakers, speakers_per_batch, ...): name the recipe
            raise InputError(err.message, args.recipe) from None
        raise
    except (RuntimeError, ConnectionError) as err:
        if ddp.world_size() == 1 or isinstance(err, TrainingError):
            raise
        raise TrainingError(f"rank {ddp.rank()}: a peer process stopped or did not answer within "
                            f"ddp_timeout_s={timeout} ({type(err).__name__}); the last checkpoint is intact, "
                            "restart with --resume") from None
    finally:
        # The trainer and its checkpointer refer to each other, so the DDP wrappers (and their pending Gloo
        # work) would otherwise live until the interpreter's final collection, after the process group is
        # gone: free them while the interpreter and the group are alive, then leave the group.
        import gc

        gc.collect()
        ddp.shutdown()
    if not main_rank:
        return 0
    print(f"trained {report['steps']} steps on {report['processes']} process(es); model in {hparams['output_folder']}")
    if report["bad_audio"]:
        print(f"bad audio seen: {report['bad_audio']}")
    return 0
