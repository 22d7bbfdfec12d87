//! `cargo xtask dist`: what a package ships besides the binary: shell completions and the man
//! pages, written by the binary itself (`pfsense-mcp generate …`, hidden from its help) so they
//! always match its command line.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The pfsense-mcp binary (default: `cargo build -p pfsense-mcp`).
    #[arg(long, env = "PFSENSE_MCP_BIN")]
    bin: Option<PathBuf>,
    /// Output directory.
    #[arg(long, default_value = "target/dist")]
    out: PathBuf,
}

/// (what `generate` takes, the file it goes to under the output directory).
const FILES: &[(&str, &str)] = &[
    ("bash", "completions/pfsense-mcp.bash"),
    ("zsh", "completions/_pfsense-mcp"),
    ("fish", "completions/pfsense-mcp.fish"),
    ("elvish", "completions/pfsense-mcp.elv"),
    ("powershell", "completions/_pfsense-mcp.ps1"),
];

pub fn run(args: Args) -> Result<()> {
    let bin = match args.bin {
        Some(b) => b,
        None => crate::exercise::build_binary()?,
    };
    let out = if args.out.is_absolute() {
        args.out
    } else {
        crate::spec::workspace_root().join(args.out)
    };
    for (what, file) in FILES {
        let output = std::process::Command::new(&bin)
            .args(["generate", what])
            .output()
            .with_context(|| format!("running {} generate {what}", bin.display()))?;
        if !output.status.success() || output.stdout.is_empty() {
            bail!(
                "{} generate {what} failed: {}",
                bin.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let path = out.join(file);
        std::fs::create_dir_all(path.parent().expect("files are in folders"))?;
        std::fs::write(&path, &output.stdout)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    // The man pages: the main one and each subcommand's, which it lists.
    let man = out.join("man");
    let output = std::process::Command::new(&bin)
        .args(["generate", "man-pages", "--dir"])
        .arg(&man)
        .output()
        .with_context(|| format!("running {} generate man-pages", bin.display()))?;
    if !output.status.success() {
        bail!(
            "{} generate man-pages failed: {}",
            bin.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    print!("{}", String::from_utf8_lossy(&output.stdout));
    Ok(())
}
