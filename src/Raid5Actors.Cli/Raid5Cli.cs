using System.CommandLine;
using System.CommandLine.Invocation;
using Raid5Actors.Cli.Commands;

namespace Raid5Actors.Cli;

/// <summary>The <c>raid5</c> command: mdadm's verbs for this engine's arrays, plus NBD serving and md import.</summary>
internal static class Raid5Cli
{
    public static RootCommand BuildRoot() => new("raid5: software RAID5 arrays of member files, served over NBD (Raid5Actors)")
    {
        CreateCommand.Build(),
        AssembleCommand.Build(),
        StatusCommands.BuildDetail(),
        ExamineCommand.Build(),
        StatusCommands.BuildStatus(),
        MemberCommands.BuildFail(),
        MemberCommands.BuildRemove(),
        MemberCommands.BuildAdd(),
        MemberCommands.BuildCheck(repair: false),
        MemberCommands.BuildCheck(repair: true),
        ServeCommand.Build(),
    };

    public static async Task<int> RunAsync(string[] args)
    {
        // Output is read by scripts as much as by people: one spelling of numbers and dates everywhere.
        System.Globalization.CultureInfo.DefaultThreadCurrentCulture = System.Globalization.CultureInfo.InvariantCulture;
        System.Globalization.CultureInfo.CurrentCulture = System.Globalization.CultureInfo.InvariantCulture;
        var root = BuildRoot();
        var parse = root.Parse(args);
        if (parse.Action is ParseErrorAction)
        {
            // Our own rendering: the errors, then where to find help, and a usage exit code.
            var command = parse.CommandResult.Command;
            var name = command == root ? "raid5" : $"raid5 {command.Name}";
            foreach (var error in parse.Errors)
                await Console.Error.WriteLineAsync($"{name}: {error.Message}").ConfigureAwait(false);
            await Console.Error.WriteLineAsync($"Try '{name} --help'.").ConfigureAwait(false);
            return ExitCodes.kUsage;
        }
        // Commands stop themselves on Ctrl-C (InterruptSignal); the parser must not kill them after a timeout.
        return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }).ConfigureAwait(false);
    }
}
