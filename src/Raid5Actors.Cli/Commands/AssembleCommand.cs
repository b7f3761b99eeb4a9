using System.CommandLine;
using Raid5Actors.Cli.Control;
using Raid5Actors.Cli.Output;

namespace Raid5Actors.Cli.Commands;

/// <summary>
/// <c>assemble</c>: open the array from its members as mdadm --assemble does (refusing stale,
/// foreign or missing members unless told otherwise), run the resync or recovery it needs to the
/// end, and stop it cleanly. The way to bring an array back after a crash or a lost disk without serving it.
/// </summary>
internal static class AssembleCommand
{
    public static Command Build()
    {
        var folder = CommonOptions.Folder();
        var command = new Command("assemble", "Assemble the array from its members (like mdadm --assemble), finish any resync or recovery it needs, and stop it clean")
        {
            folder, CommonOptions.AllowDegraded, CommonOptions.Force, CommonOptions.Json,
        }.WithConfiguration();
        command.SetRunner(async session =>
        {
            var dir = session.Parse.GetValue(folder)!;
            var config = session.LoadConfig(dir);
            var array = await session.OpenArrayAsync(dir, config).ConfigureAwait(false);
            await using (array.ConfigureAwait(false))
            {
                if (array.IsRemote)
                    throw new Raid5Exception($"{dir} is already assembled and served by another process; see raid5 status {dir}");
                var json = session.Parse.GetValue(CommonOptions.Json);
                var text = json ? Console.Error : session.Out;
                await text.WriteLineAsync($"raid5: assembled {Path.GetFullPath(dir)}").ConfigureAwait(false);
                var status = await session.Progress(config, toStandardError: json).FollowAsync(array, session.Cancellation).ConfigureAwait(false);
                if (json)
                    session.WriteJson(status);
                else
                    await session.Out.WriteAsync(StatusText.Mdstat(status)).ConfigureAwait(false);
            }
            return ExitCodes.kOk;
        });
        return command;
    }
}
