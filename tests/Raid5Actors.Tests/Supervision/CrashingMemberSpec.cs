using Akka.Actor;
using Akka.Configuration;
using Raid5Actors.Arrays;
using Raid5Actors.Disks;
using Raid5Actors.Geometry;
using Raid5Actors.Stripes;
using Raid5Actors.Tests.Arrays;
using Raid5Actors.Tests.Model;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Supervision;

/// <summary>
/// A member store that throws something other than an I/O error crashes its disk actor. The array
/// restarts the actor and answers the request that broke it as failed (ArrayActor's supervision),
/// so a crash counts like an I/O error of that kind: a failed read is rebuilt from the other members
/// and written back (md's read-error repair), a failed write fails the member (md kicks a member
/// whose write failed) and the array goes on degraded. A store that throws on everything ends with
/// its member faulty. Throughout, every read equals what was written and no request hangs.
/// </summary>
public sealed class CrashingMemberSpec(ITestOutputHelper output) : IDisposable
{
    private const int kMembers = 4;
    private const int kChunkBytes = 4096;
    private const int kRows = 48;
    private const int kSick = 1;
    private const string kInjected = "injected non-I/O failure";
    // A request unanswered after kAnswerDeadline is hung (they take milliseconds); the array's own
    // raid5.request-timeout is longer, so that a slow start on a busy machine is not taken for a hang.
    private static readonly TimeSpan kRequestTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan kAnswerDeadline = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan kWorkloadDeadline = TimeSpan.FromSeconds(10);

    private readonly string _folder = TestArrays.NewFolder("member-crash");
    private readonly ThrowingMemberStoreProvider _provider = new(MemberSuperblock.kDefaultDataOffsetBytes);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task A_read_that_crashes_the_member_once_is_rebuilt_from_parity_and_the_member_stays_in_sync()
    {
        var seed = TestArrays.Seed(output, nameof(A_read_that_crashes_the_member_once_is_rebuilt_from_parity_and_the_member_stays_in_sync));
        var (array, expected) = await CreateFilledAsync(seed);
        await using var _ = new BoundedStop(array, output);
        using var log = new LogCapture(array, output);
        var geometry = array.Geometry;
        var sickBefore = DataArea(kSick);

        // A chunk that lives on the sick member: the array reads it straight from there.
        var (offset, row) = ChunkOn(geometry, kSick, new Random(seed));
        _provider.ThrowOnNextDataReads(kSick, 1);
        var read = new byte[kChunkBytes];
        await Within(array.ReadAsync(offset, read), $"read of row {row} on member {kSick}");

        Assert.Equal(1, _provider.Thrown(kSick));
        Assert.Equal(expected.Slice(offset, kChunkBytes).ToArray(), read);
        // The rebuilt block was written back: same bytes, member still in sync, its actor restarted (alive).
        var status = await ArrayBackstage.AwaitStatusAsync(array, s => s.RequestsInFlight == 0, kAnswerDeadline, "read repair done");
        Assert.Equal("active", status.State);
        Assert.All(status.Members, m => Assert.Equal("in-sync", m.State));
        await AssertMemberActorAliveAsync(array, kSick);
        Assert.Equal(sickBefore, DataArea(kSick));
        await Within(expected.AssertReadsBackAsync(array), "the final read");
        var check = await CheckAsync(array);
        Assert.Equal(0, check.Mismatches);
        Assert.Equal(0, log.Count("kept crashing"));
    }

    [Fact]
    public async Task A_write_that_crashes_the_member_once_fails_that_member_and_the_array_goes_on_degraded()
    {
        var seed = TestArrays.Seed(output, nameof(A_write_that_crashes_the_member_once_fails_that_member_and_the_array_goes_on_degraded));
        var (array, expected) = await CreateFilledAsync(seed);
        await using var _ = new BoundedStop(array, output);
        using var log = new LogCapture(array, output);
        var rowBytes = (int)array.Geometry.RowDataBytes;
        var random = new Random(seed);

        // A full-row write touches every member, the sick one included; it stands on the other three.
        var row = random.Next(kRows);
        _provider.ThrowOnNextDataWrites(kSick, 1);
        await Within(expected.WriteAsync(array, (long)row * rowBytes, rowBytes), $"write of row {row}");
        Assert.Equal(1, _provider.Thrown(kSick));

        // What the engine does today, as md does for a write error: the member is failed, not retried.
        var status = await ArrayBackstage.AwaitStatusAsync(array, s => s.Members[kSick].State == "faulty", kAnswerDeadline, $"member {kSick} faulty");
        output.WriteLine(status.ToString());
        Assert.Equal("degraded", status.State);
        Assert.All(status.Members.Where(m => m.Role != kSick), m => Assert.Equal("in-sync", m.State));
        // One crash is within the restart budget: the actor was restarted, not stopped.
        await AssertMemberActorAliveAsync(array, kSick);
        Assert.Equal(0, log.Count("kept crashing"));

        // Degraded: the failed write and everything else read back, and new writes keep working.
        await Within(expected.AssertReadsBackAsync(array), "degraded read after the failed write");
        for (var i = 0; i < 8; i++)
        {
            var lengthSectors = random.Next(1, 3 * rowBytes / ArrayGeometry.kSectorBytes);
            var at = random.NextInt64((array.CapacityBytes - lengthSectors * ArrayGeometry.kSectorBytes) / ArrayGeometry.kSectorBytes + 1) * ArrayGeometry.kSectorBytes;
            await Within(expected.WriteAsync(array, at, lengthSectors * ArrayGeometry.kSectorBytes), "degraded write");
        }
        await Within(expected.AssertReadsBackAsync(array), "degraded read after degraded writes");
        Assert.Equal(1, _provider.Thrown(kSick));
    }

    [Fact]
    public async Task A_member_whose_store_always_throws_ends_faulty_and_every_read_still_equals_the_model()
    {
        var seed = TestArrays.Seed(output, nameof(A_member_whose_store_always_throws_ends_faulty_and_every_read_still_equals_the_model));
        var (array, expected) = await CreateFilledAsync(seed);
        await using var _ = new BoundedStop(array, output);
        using var log = new LogCapture(array, output);

        _provider.ThrowOnEverything(kSick);
        var workload = new ModelWorkload(array, seed, output);
        expected.Slice(0, (int)array.CapacityBytes).CopyTo(workload.Model);
        await ArrayBackstage.AllWithinAsync([workload.RunAsync(300)], kWorkloadDeadline, "workload against a crashing member");

        var status = await ArrayBackstage.AwaitStatusAsync(array, s => s.Members[kSick].State == "faulty", kAnswerDeadline, $"member {kSick} faulty");
        output.WriteLine($"{_provider.Thrown(kSick)} crashes; {status}");
        Assert.Equal("degraded", status.State);
        Assert.All(status.Members.Where(m => m.Role != kSick), m => Assert.Equal("in-sync", m.State));
        Assert.True(_provider.Thrown(kSick) >= 1);
        await ArrayBackstage.AllWithinAsync([workload.VerifyAllAsync()], kAnswerDeadline, "the final read");
    }

    [Fact]
    public async Task Every_request_queued_at_a_member_that_keeps_crashing_is_answered_with_the_right_bytes()
    {
        var seed = TestArrays.Seed(output, nameof(Every_request_queued_at_a_member_that_keeps_crashing_is_answered_with_the_right_bytes));
        var (array, expected) = await CreateFilledAsync(seed);
        await using var _ = new BoundedStop(array, output);
        using var log = new LogCapture(array, output);
        var geometry = array.Geometry;

        // Twelve reads of blocks on the sick member, all in its mailbox before it first crashes:
        // more crashes than the restart budget (3 a minute), so its actor is stopped with requests queued.
        var offsets = Enumerable.Range(0, kRows).Select(r => (long)r)
            .Where(r => geometry.DataIndexOf(r, kSick) >= 0)
            .Take(12)
            .Select(r => geometry.LogicalOffset(r, geometry.DataIndexOf(r, kSick), 0))
            .ToList();
        _provider.ThrowOnEverything(kSick);
        var buffers = offsets.Select(_ => new byte[kChunkBytes]).ToList();
        var reads = offsets.Select((offset, i) => array.ReadAsync(offset, buffers[i])).ToList();
        await ArrayBackstage.AllWithinAsync(reads, kAnswerDeadline, "reads queued at a crashing member");

        for (var i = 0; i < offsets.Count; i++)
            Assert.Equal(expected.Slice(offsets[i], kChunkBytes).ToArray(), buffers[i]);
        var status = await ArrayBackstage.AwaitStatusAsync(array, s => s.Members[kSick].State == "faulty", kAnswerDeadline, $"member {kSick} faulty");
        output.WriteLine($"{_provider.Thrown(kSick)} crashes; {status}");
        Assert.Equal("degraded", status.State);
        await Within(expected.AssertReadsBackAsync(array), "degraded read");
    }

    private async Task<(Raid5Array Array, ExpectedDevice Expected)> CreateFilledAsync(int seed)
    {
        var create = new Raid5CreateOptions(kMembers, MemberSuperblock.kDefaultDataOffsetBytes + (long)kRows * kChunkBytes, kChunkBytes);
        var config = ConfigurationFactory.ParseString($"raid5.request-timeout = {(int)kRequestTimeout.TotalSeconds}s").WithFallback(TestArrays.Config());
        var array = await Raid5Array.CreateAsync(_folder, create, new Raid5ArrayOptions { Members = _provider, Config = config });
        Assert.Equal(MemberSuperblock.kDefaultDataOffsetBytes, array.Metadata.DataOffsetBytes);
        var expected = new ExpectedDevice(array.CapacityBytes, seed);
        await Within(expected.WriteAsync(array, 0, (int)array.CapacityBytes), "filling the device");
        await array.FlushAsync();
        return (array, expected);
    }

    private static (long Offset, long Row) ChunkOn(ArrayGeometry geometry, int member, Random random)
    {
        while (true)
        {
            var row = random.NextInt64(geometry.RowCount);
            var dataIndex = geometry.DataIndexOf(row, member);
            if (dataIndex >= 0)
                return (geometry.LogicalOffset(row, dataIndex, 0), row);
        }
    }

    private byte[] DataArea(int role) =>
        _provider.Inner.RawBytes(role).AsSpan((int)MemberSuperblock.kDefaultDataOffsetBytes, kRows * kChunkBytes).ToArray();

    private static async Task AssertMemberActorAliveAsync(Raid5Array array, int device)
    {
        var actor = await new ActorSelection(array.Actor, $"member-{device}-*").ResolveOne(TimeSpan.FromSeconds(5));
        Assert.False(actor.IsNobody());
    }

    private static async Task<Sync.SyncStatus> CheckAsync(Raid5Array array)
    {
        await array.StartSyncAsync(SyncKind.Check);
        var idle = await array.WaitForSyncAsync(TimeSpan.FromSeconds(10));
        Assert.Null(idle.LastFailure);
        return idle.Last!;
    }

    private static Task Within(Task task, string what) => ArrayBackstage.AllWithinAsync([task], kAnswerDeadline, what);
}
