//! `cofferd`: parses arguments and runs the daemon (see the library docs).

use clap::Parser;

fn main() {
    let args = cofferd::run::Args::parse();
    std::process::exit(cofferd::run::main(args));
}
