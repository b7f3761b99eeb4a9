using System.CommandLine;
using Raid5Actors.Cli.Output;

namespace Raid5Actors.Cli.Commands;

/// <summary>
/// <c>status</c> (like /proc/mdstat) and <c>detail</c> (like mdadm --detail), on a served array or opened here.
/// They take no --allow-degraded or --force: looking must not change the array (those assemble it differently).
/// </summary>
internal static class StatusCommands
{
    public static Command BuildStatus()
    {
        var folder = CommonOptions.Folder();
        var command = new Command("status", "Show the array's state, members and any running rebuild, resync or check (like /proc/mdstat)")
        {
            folder, CommonOptions.Json,
        }.WithConfiguration();
        command.SetRunner(session => ShowAsync(session, session.Parse.GetValue(folder)!, StatusText.Mdstat));
        return command;
    }

    public static Command BuildDetail()
    {
        var folder = CommonOptions.Folder();
        var command = new Command("detail", "Show everything about the array and each of its devices (like mdadm --detail)")
        {
            folder, CommonOptions.Json,
        }.WithConfiguration();
        command.SetRunner(session => ShowAsync(session, session.Parse.GetValue(folder)!, StatusText.Detail));
        return command;
    }

    private static async Task<int> ShowAsync(CliSession session, string folder, Func<StatusDocument, string> render)
    {
        var array = await session.OpenArrayAsync(folder, session.LoadConfig(folder)).ConfigureAwait(false);
        await using (array.ConfigureAwait(false))
        {
            var status = await array.StatusAsync(session.Cancellation).ConfigureAwait(false);
            if (session.Parse.GetValue(CommonOptions.Json))
                session.WriteJson(status);
            else
                await session.Out.WriteAsync(render(status)).ConfigureAwait(false);
        }
        return ExitCodes.kOk;
    }
}
