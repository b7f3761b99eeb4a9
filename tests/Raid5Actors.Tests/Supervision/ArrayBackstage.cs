using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Event;
using Raid5Actors.Arrays;
using Xunit.Abstractions;
using static Raid5Actors.Disks.MemberDiskProtocol;

namespace Raid5Actors.Tests.Supervision;

/// <summary>
/// What a spec needs behind an array's facade: its actor system, its log, and a way to crash its
/// stripe actors. A stripe throws on a member answer whose tag is not its current job (a protocol
/// violation), so a bogus <see cref="IoCompleted"/> crashes it whether it is busy or idle.
/// </summary>
internal static class ArrayBackstage
{
    /// <summary>A tag no stripe job ever has (job numbers start at 1).</summary>
    public const long kBogusTag = -4242;

    public static ActorSystem SystemOf(Raid5Array array) => ((ActorRefWithCell)array.Actor).Underlying.System;

    /// <summary>Crashes every stripe actor the array has right now (busy or idle).</summary>
    public static void CrashEveryStripe(Raid5Array array) =>
        new ActorSelection(array.Actor, "stripe-*").Tell(new IoCompleted(kBogusTag, 0, IoKind.Read), ActorRefs.NoSender);

    /// <summary>Crashes the stripe actor of one row, if the row has one.</summary>
    public static void CrashStripeOfRow(Raid5Array array, long row) =>
        new ActorSelection(array.Actor, $"stripe-{row}-*").Tell(new IoCompleted(kBogusTag, 0, IoKind.Read), ActorRefs.NoSender);

    /// <summary>The time a status answer may take before the array counts as hung (it takes milliseconds).</summary>
    public static readonly TimeSpan kStatusDeadline = TimeSpan.FromSeconds(5);

    /// <summary>The array's status, failing the spec if the array does not answer within <see cref="kStatusDeadline"/>.</summary>
    public static async Task<ArrayStatus> StatusAsync(Raid5Array array)
    {
        var status = array.GetStatusAsync();
        try
        {
            return await status.WaitAsync(kStatusDeadline);
        }
        catch (Exception e) when (e is TimeoutException or AskTimeoutException)
        {
            Assert.Fail($"the array did not answer a status request within {kStatusDeadline} (hung)");
            throw;
        }
    }

    /// <summary>Polls the status (no sleeping) until <paramref name="condition"/> holds or the deadline passes.</summary>
    public static async Task<ArrayStatus> AwaitStatusAsync(Raid5Array array, Func<ArrayStatus, bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        var status = await StatusAsync(array);
        while (!condition(status) && DateTime.UtcNow < deadline)
        {
            await Task.Yield();
            status = await StatusAsync(array);
        }
        Assert.True(condition(status), $"{what}: not reached within {timeout}; status: {status}");
        return status;
    }

    /// <summary>Awaits every task, failing (with the count of unfinished ones) if any is still running after <paramref name="timeout"/>.</summary>
    public static async Task AllWithinAsync(IReadOnlyCollection<Task> tasks, TimeSpan timeout, string what)
    {
        var all = Task.WhenAll(tasks);
        try
        {
            await all.WaitAsync(timeout);
        }
        catch (TimeoutException e)
        {
            // Either still running here, or the array's own request-timeout gave up on it: both are hangs.
            Assert.Fail(all.IsCompleted
                ? $"{what}: hung: {e.Message}"
                : $"{what}: {tasks.Count(t => !t.IsCompleted)} of {tasks.Count} requests still unanswered after {timeout} (hung)");
        }
    }
}

/// <summary>
/// Stops an array at the end of a spec, but gives up after <see cref="kStopDeadline"/>: an array with
/// a hung request never finishes its orderly stop (it waits for every request), and the spec has
/// already failed for that. Its actor system is then terminated.
/// </summary>
internal sealed class BoundedStop(Raid5Array array, ITestOutputHelper output) : IAsyncDisposable
{
    public static readonly TimeSpan kStopDeadline = TimeSpan.FromSeconds(3);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await array.DisposeAsync().AsTask().WaitAsync(kStopDeadline);
        }
        catch (TimeoutException)
        {
            output.WriteLine($"the array did not stop within {kStopDeadline} (requests still pending); terminating its actor system");
            await ArrayBackstage.SystemOf(array).Terminate();
        }
    }
}

/// <summary>
/// Collects the warnings and errors an array's actor system logs (its own logger keeps running), so
/// a spec can see that a crash happened and what the supervisor did about it.
/// </summary>
internal sealed class LogCapture : IDisposable
{
    private readonly ConcurrentQueue<LogEvent> _events = new();
    private readonly ActorSystem _system;
    private readonly IActorRef _listener;
    private readonly ITestOutputHelper? _output;

    /// <param name="output">Where the captured warnings and errors are printed on dispose, if given.</param>
    public LogCapture(Raid5Array array, ITestOutputHelper? output = null)
    {
        _output = output;
        _system = ArrayBackstage.SystemOf(array);
        _listener = _system.ActorOf(Props.Create(() => new Listener(_events)), $"log-capture-{Guid.NewGuid():N}");
        _system.EventStream.Subscribe(_listener, typeof(Warning));
        _system.EventStream.Subscribe(_listener, typeof(Error));
    }

    public IReadOnlyList<LogEvent> Events => _events.ToList();

    public int Count(string fragment) => _events.Count(e => Text(e).Contains(fragment, StringComparison.Ordinal));

    /// <summary>Errors logged by or about actors other than those the spec crashes on purpose.</summary>
    public IReadOnlyList<string> ErrorsNotFrom(params string[] expectedFragments) =>
        _events.OfType<Error>()
            .Select(Text)
            .Where(text => !expectedFragments.Any(f => text.Contains(f, StringComparison.Ordinal)))
            .ToList();

    public static string Text(LogEvent e) => $"{e.LogSource}: {e.Message}{(e is Error { Cause: { } cause } ? $" ({cause.GetType().Name}: {cause.Message})" : "")}";

    public void Dispose()
    {
        if (_output is not null)
        {
            foreach (var e in _events)
                _output.WriteLine($"[{e.LogLevel()}] {Text(e)}");
        }
        _system.EventStream.Unsubscribe(_listener);
        _system.Stop(_listener);
    }

    private sealed class Listener : ReceiveActor
    {
        public Listener(ConcurrentQueue<LogEvent> events) => Receive<LogEvent>(events.Enqueue);
    }
}
