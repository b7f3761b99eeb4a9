using Akka.Actor;
using Akka.Configuration;
using Raid5Actors.Arrays;
using Raid5Actors.Disks;
using Raid5Actors.Tests.Model;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Supervision;

/// <summary>
/// The array actor is never restarted into a half-working state: when it throws, it is stopped,
/// and callers learn at once that the array is gone instead of waiting for their timeout.
/// </summary>
public sealed class ArrayGuardianSpec(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(output: output), IDisposable
{
    private readonly string _folder = TestArrays.NewFolder("guardian");

    void IDisposable.Dispose()
    {
        Directory.Delete(_folder, recursive: true);
        base.Dispose();
    }

    [Fact]
    public void A_child_that_throws_is_stopped_not_restarted_and_its_guardian_stops_with_it()
    {
        var starts = new CountingProbe();
        var guardian = Sys.ActorOf(ArrayGuardian.Props(Props.Create(() => new ThrowingActor(starts)), "array"), "array-guardian");
        guardian.Tell(ArrayGuardian.GetArray.Instance);
        var child = ExpectMsg<IActorRef>();
        Watch(child);
        Watch(guardian);

        child.Tell("throw");
        ExpectTerminated(child);
        ExpectTerminated(guardian);
        Assert.Equal(1, starts.Count); // never started a second time
    }

    [Fact]
    public async Task Calls_fail_at_once_with_a_clear_error_when_the_array_actor_is_gone()
    {
        var config = ConfigurationFactory.ParseString("raid5.request-timeout = 30s").WithFallback(TestArrays.Config());
        var array = await Raid5Array.CreateAsync(
            _folder, new Raid5CreateOptions(3, (1 << 20) + 16 * 4096, ChunkBytes: 4096),
            new Raid5ArrayOptions { Members = new MemoryMemberStoreProvider(), Config = config });
        await array.WriteAsync(0, new byte[4096]);

        array.Actor.Tell(PoisonPill.Instance);
        var started = DateTime.UtcNow;
        // A timeout would surface as TimeoutException after 30 s; a stopped actor must be reported now.
        var error = await Assert.ThrowsAsync<Raid5Exception>(() => array.WriteAsync(4096, new byte[4096]));
        Assert.Contains("stopped", error.Message);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(20), "the call waited for its timeout");
        await array.DisposeAsync();
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(20), "dispose waited for a dead actor");
    }

    private sealed class CountingProbe
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public void Increment() => Interlocked.Increment(ref _count);
    }

    private sealed class ThrowingActor : ReceiveActor
    {
        public ThrowingActor(CountingProbe starts)
        {
            starts.Increment();
            Receive<string>(_ => throw new InvalidOperationException("a bug in the array actor"));
        }
    }
}
