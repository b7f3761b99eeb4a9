using System.CommandLine;

namespace Raid5Actors.Cli.Commands;

/// <summary>Options several commands share; one instance each, added to every command that takes it.</summary>
internal static class CommonOptions
{
    public static readonly Option<string[]> Config = new("--config", "-c")
    {
        Description = "HOCON configuration file; may be given more than once, the last wins (see hocon/)",
        HelpName = "FILE",
    };

    public static readonly Option<string[]> Set = new("--set")
    {
        Description = "Override one configuration key, e.g. --set raid5.sync.speed-max=50M; may be repeated",
        HelpName = "KEY=VALUE",
    };

    public static readonly Option<bool> Verbose = new("--verbose", "-v")
    {
        Description = "Log what the engine does (to standard error)",
    };

    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print machine-readable JSON instead of text",
    };

    public static readonly Option<bool> AllowDegraded = new("--allow-degraded")
    {
        Description = "Start the array even when a member is missing or stale (it runs degraded; like mdadm --run)",
    };

    public static readonly Option<bool> Force = new("--force")
    {
        Description = "Start a dirty degraded array, or take back the freshest failed members when too many are gone (like mdadm --force)",
    };

    public static readonly Option<bool> NoWait = new("--no-wait")
    {
        Description = "Return once the work has started (only when a serving process keeps running it)",
    };

    public static Argument<string> Folder() => new("DIR") { Description = "The array folder (journal and member-NN.img files)" };

    /// <summary>Adds the configuration and logging options every array command takes.</summary>
    public static T WithConfiguration<T>(this T command) where T : Command
    {
        command.Options.Add(Config);
        command.Options.Add(Set);
        command.Options.Add(Verbose);
        return command;
    }
}
