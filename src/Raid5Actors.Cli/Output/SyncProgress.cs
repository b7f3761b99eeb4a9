using Raid5Actors.Cli.Control;
using Spectre.Console;

namespace Raid5Actors.Cli.Output;

/// <summary>
/// Follows a rebuild, resync, check or repair until it ends: a live Spectre.Console bar with rate
/// and time left on a terminal, or one mdstat-style line per second when the output is a pipe or a
/// file (so logs and scripts get plain text). Returns the status after the work ended.
/// </summary>
internal sealed class SyncProgress(IAnsiConsole console, TextWriter plain, TimeSpan pollInterval)
{
    private static readonly TimeSpan s_plainLineInterval = TimeSpan.FromSeconds(1);

    public async Task<StatusDocument> FollowAsync(IArrayHandle array, CancellationToken cancellationToken)
    {
        var status = await array.StatusAsync(cancellationToken).ConfigureAwait(false);
        if (!status.SyncPending)
            return status;
        return console.Profile.Capabilities.Interactive
            ? await FollowWithBarAsync(array, status, cancellationToken).ConfigureAwait(false)
            : await FollowWithLinesAsync(array, status, cancellationToken).ConfigureAwait(false);
    }

    private async Task<StatusDocument> FollowWithBarAsync(IArrayHandle array, StatusDocument status, CancellationToken cancellationToken)
    {
        await console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                ProgressTask? bar = null;
                while (status.SyncPending)
                {
                    if (status.Sync is { } sync)
                    {
                        if (bar is null || bar.Description != Title(sync))
                        {
                            bar?.StopTask();
                            bar = context.AddTask(Title(sync), maxValue: Math.Max(1, sync.TotalBytes));
                        }
                        bar.Value = sync.DoneBytes;
                    }
                    await Task.Delay(pollInterval, cancellationToken).ConfigureAwait(false);
                    status = await array.StatusAsync(cancellationToken).ConfigureAwait(false);
                }
                if (bar is not null)
                {
                    bar.Value = bar.MaxValue;
                    bar.StopTask();
                }
            }).ConfigureAwait(false);
        return status;
    }

    private async Task<StatusDocument> FollowWithLinesAsync(IArrayHandle array, StatusDocument status, CancellationToken cancellationToken)
    {
        var lastLine = DateTime.MinValue;
        while (status.SyncPending)
        {
            if (status.Sync is { } sync && DateTime.UtcNow - lastLine >= s_plainLineInterval)
            {
                await plain.WriteLineAsync(StatusText.SyncLine(sync)).ConfigureAwait(false);
                lastLine = DateTime.UtcNow;
            }
            await Task.Delay(pollInterval, cancellationToken).ConfigureAwait(false);
            status = await array.StatusAsync(cancellationToken).ConfigureAwait(false);
        }
        return status;
    }

    private static string Title(SyncDocument sync) => sync.TargetRole >= 0 ? $"{sync.Kind} of member {sync.TargetRole}" : sync.Kind;
}
