//! Configuration defaults, written once: in the clap attributes.

/// The configuration `T` would get from an empty command line and an empty
/// environment: its clap defaults. Library configurations implement
/// `Default` with it, so the defaults exist in one place only.
pub fn clap_defaults<T: clap::Args + clap::FromArgMatches>() -> Result<T, clap::Error> {
    let command =
        T::augment_args(clap::Command::new("defaults")).mut_args(|a| a.env(None::<&'static str>));
    let matches = command.try_get_matches_from(["defaults"])?;
    T::from_arg_matches(&matches)
}

/// The configuration `T` as the environment and its clap defaults give it,
/// without flags: for a part of a service configured by its own variables
/// (`worker run --deliver` reads `worker deliver`'s).
pub fn clap_from_env<T: clap::Args + clap::FromArgMatches>() -> Result<T, clap::Error> {
    let matches = T::augment_args(clap::Command::new("env")).try_get_matches_from(["env"])?;
    T::from_arg_matches(&matches)
}
