//! `cargo xtask lab`: start one pfrest lab (pfrest's own PHP on loopback, see
//! `crates/pfrest-lab`) for a person and keep it until Ctrl-C. The options here are shared by
//! `--target lab` of `exercise` and `bank-test`.

use anyhow::{Context, Result};
use std::path::PathBuf;

/// Where a lab comes from.
#[derive(clap::Args, Debug, Clone)]
pub struct LabArgs {
    /// pfrest version the lab runs (v2.7.1, v2.8.4, v2.10.0).
    #[arg(long = "lab-version", alias = "version", default_value = pfrest_lab::DEFAULT_VERSION)]
    pub lab_version: String,
    /// Sources directory: pfrest tags, pfSense at 6a92af1, php-jwt, graphql-php, Net_IPv6.
    #[arg(
        long,
        env = "PFREST_LAB_SOURCES",
        default_value = "../shared/third-party"
    )]
    pub sources: PathBuf,
    /// pfSense config.xml with the REST API package [default: SOURCES/../reference-config.xml].
    #[arg(long = "lab-config", env = "PFREST_LAB_CONFIG")]
    pub lab_config: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub lab: LabArgs,
    /// PHP built-in server workers (concurrent requests).
    #[arg(long, default_value_t = 4)]
    pub workers: u32,
}

/// Start a lab (stopped on drop and by the lab's own SIGINT/SIGTERM handler).
pub fn start(args: &LabArgs, workers: u32) -> Result<pfrest_lab::Lab> {
    let mut options = pfrest_lab::LabOptions::new(&args.sources).version(args.lab_version.clone());
    options.config = args.lab_config.clone();
    options.workers = workers;
    pfrest_lab::Lab::start(options).with_context(|| {
        format!(
            "starting the pfrest lab {} from {}",
            args.lab_version,
            args.sources.display()
        )
    })
}

pub fn run(args: Args) -> Result<()> {
    let lab = start(&args.lab, args.workers)?;
    println!("{}", lab.ready_json());
    eprintln!(
        "pfrest lab {} ready at {} (BasicAuth {}:{}); Ctrl-C stops it and removes {}",
        lab.version(),
        lab.url(),
        lab.username(),
        lab.password(),
        lab.work_dir().display()
    );
    // The lab's signal handler stops it and ends the process.
    loop {
        std::thread::park();
    }
}
