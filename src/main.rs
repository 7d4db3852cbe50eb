fn main() -> std::process::ExitCode {
    nubo::cli::main()
}
