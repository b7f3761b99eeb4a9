using Raid5Actors.Arrays;
using Raid5Actors.Stripes;

namespace Raid5Actors.Tests.Rebuild;

/// <summary>
/// Waits for an array's status to reach a state. Polling is the only waiting these specs do: a
/// rebuild reports its progress through the status, and nothing else tells a caller it moved.
/// </summary>
internal static class StatusPolling
{
    private static readonly TimeSpan kPollInterval = TimeSpan.FromMilliseconds(20);

    /// <summary>The first status that satisfies <paramref name="condition"/>; fails with the last one seen after <paramref name="timeout"/>.</summary>
    public static async Task<ArrayStatus> Until(Raid5Array array, Func<ArrayStatus, bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var status = await array.GetStatusAsync();
            if (condition(status))
                return status;
            if (DateTime.UtcNow >= deadline)
                Assert.Fail($"not {what} within {timeout}; last status:\n{status}");
            await Task.Delay(kPollInterval);
        }
    }

    /// <summary>
    /// Every status from now until a recovery has run and finished (the last one holds it in
    /// <c>LastSync</c>), in the order they were taken. <paramref name="latest"/> sees each sample as it arrives.
    /// </summary>
    public static async Task<List<ArrayStatus>> SampleRecovery(Raid5Array array, TimeSpan timeout, Action<ArrayStatus>? latest = null)
    {
        var samples = new List<ArrayStatus>();
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var status = await array.GetStatusAsync();
            samples.Add(status);
            latest?.Invoke(status);
            if (status.Sync is null && status.LastSync is { Kind: SyncKind.Recover })
                return samples;
            if (DateTime.UtcNow >= deadline)
                Assert.Fail($"the recovery did not finish within {timeout}; last status:\n{status}");
            await Task.Delay(kPollInterval);
        }
    }
}
