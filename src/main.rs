//! `cargo fargate`: the binary is the library's command line ([`cargo_fargate::cli::main`]).

fn main() {
    std::process::exit(cargo_fargate::cli::main());
}
