using System.CommandLine;
using Raid5Actors.Cli.Control;
using Raid5Actors.Cli.Output;

namespace Raid5Actors.Cli.Commands;

/// <summary><c>fail</c>, <c>remove</c>, <c>add</c>, <c>check</c> and <c>repair</c>: change or scrub a served array, or one opened here.</summary>
internal static class MemberCommands
{
    public static Command BuildFail() => BuildRoleCommand(
        "fail", "Mark a member faulty (like mdadm --fail): the array runs degraded, and recovers onto a spare if it has one",
        (array, role, cancel) => array.FailAsync(role, cancel));

    public static Command BuildRemove() => BuildRoleCommand(
        "remove", "Take a faulty member out of its role (like mdadm --remove); its file is closed and left in place",
        (array, role, cancel) => array.RemoveAsync(role, cancel));

    public static Command BuildAdd()
    {
        var folder = CommonOptions.Folder();
        var device = new Option<int?>("--device")
        {
            Description = "Re-add the member file with this index (member-NN.img) instead of creating a new blank one; "
                + "only the regions written while it was away are rebuilt when the bitmap allows",
            HelpName = "N",
        };
        var command = new Command("add", "Add a device (like mdadm --add): a new blank member file becomes a spare, and recovery onto it starts if a member is missing; shows recovery progress")
        {
            folder, device, CommonOptions.NoWait, CommonOptions.AllowDegraded, CommonOptions.Force,
        }.WithConfiguration();
        command.SetRunner(session => RunAsync(session, session.Parse.GetValue(folder)!, (array, cancel) => array.AddAsync(session.Parse.GetValue(device), cancel)));
        return command;
    }

    public static Command BuildCheck(bool repair)
    {
        var folder = CommonOptions.Folder();
        var description = repair
            ? "Read every row and rewrite the parity where it does not match the data (like md's repair); shows progress"
            : "Read every row and count those whose parity does not match the data (like md's check, mismatch_cnt); writes nothing; shows progress";
        var command = new Command(repair ? "repair" : "check", description)
        {
            folder, CommonOptions.NoWait, CommonOptions.AllowDegraded, CommonOptions.Force,
        }.WithConfiguration();
        command.SetRunner(session => RunAsync(session, session.Parse.GetValue(folder)!, (array, cancel) => array.StartCheckAsync(repair, cancel)));
        return command;
    }

    private static Command BuildRoleCommand(string name, string description, Func<IArrayHandle, int, CancellationToken, Task<string>> act)
    {
        var folder = CommonOptions.Folder();
        var role = new Argument<int>("INDEX") { Description = "The member's role in the array (0 to members-1, as status shows it)" };
        var command = new Command(name, description) { folder, role, CommonOptions.AllowDegraded, CommonOptions.Force }.WithConfiguration();
        command.SetRunner(session => RunAsync(session, session.Parse.GetValue(folder)!, (array, cancel) => act(array, session.Parse.GetValue(role), cancel), follow: false));
        return command;
    }

    /// <summary>Does the change, then (unless --no-wait or <paramref name="follow"/> is false) follows the work it started to its end.</summary>
    private static async Task<int> RunAsync(CliSession session, string folder, Func<IArrayHandle, CancellationToken, Task<string>> act, bool follow = true)
    {
        var config = session.LoadConfig(folder);
        var noWait = session.Parse.GetValue(CommonOptions.NoWait);
        // Without a server the work runs in this command, so there is nothing to leave running.
        var array = await session.OpenArrayAsync(folder, config, requireServer: noWait, why: "--no-wait").ConfigureAwait(false);
        await using (array.ConfigureAwait(false))
        {
            var outcome = await act(array, session.Cancellation).ConfigureAwait(false);
            await session.Out.WriteLineAsync($"raid5: {outcome}").ConfigureAwait(false);
            if (!follow || noWait)
                return ExitCodes.kOk;
            var status = await session.Progress(config).FollowAsync(array, session.Cancellation).ConfigureAwait(false);
            if (status.LastSyncFailure is { } failure)
            {
                await Console.Error.WriteLineAsync($"raid5: error: {failure}").ConfigureAwait(false);
                return ExitCodes.kFailed;
            }
            if (status.LastSync is { } last)
                await session.Out.WriteLineAsync($"raid5: {last.Kind} finished: {StatusText.Finished(last)}").ConfigureAwait(false);
            await session.Out.WriteAsync(StatusText.Mdstat(status)).ConfigureAwait(false);
        }
        return ExitCodes.kOk;
    }
}
