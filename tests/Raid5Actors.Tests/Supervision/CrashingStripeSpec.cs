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
/// A stripe actor that throws is stopped and replaced; the replacement resyncs its row and redoes,
/// in order, the work the old one had not answered (ArrayActor's supervision). Crashes are made by
/// sending stripes a member answer for a job they do not have. Whatever the stripes were doing,
/// every acknowledged write reads back exactly, no request hangs, and every row's parity is the
/// XOR of its data at the end.
/// </summary>
public sealed class CrashingStripeSpec(ITestOutputHelper output) : IDisposable
{
    // The injected crash, as the supervisor logs it.
    private const string kInjectedCrash = "member I/O answer";
    private const string kReplaced = "crashed; replacing it";
    // A request unanswered after kAnswerDeadline is hung (they take milliseconds); the array's own
    // raid5.request-timeout is longer, so that a slow start on a busy machine is not taken for a hang.
    private static readonly TimeSpan kRequestTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan kAnswerDeadline = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan kWorkloadDeadline = TimeSpan.FromSeconds(10);

    private readonly string _folder = TestArrays.NewFolder("stripe-crash");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Acknowledged_writes_read_back_exactly_while_busy_stripes_keep_crashing()
    {
        const int kWaves = 40;
        var seed = TestArrays.Seed(output, nameof(Acknowledged_writes_read_back_exactly_while_busy_stripes_keep_crashing));
        var random = new Random(seed);
        var provider = new SimulatedMemberStoreProvider();
        var array = await CreateAsync(provider, members: 4, chunkBytes: 4096, rows: 128);
        var metadata = array.Metadata;
        var model = new byte[array.CapacityBytes];
        await using (new BoundedStop(array, output))
        {
            using var log = new LogCapture(array, output);
            // A millisecond per member I/O keeps stripes mid-job (pre-reading, parked, writing) when the crashes land.
            for (var role = 0; role < 4; role++)
                provider.Disk(role).SetLatency(TimeSpan.FromMilliseconds(1));

            // Each wave: up to 12 requests in flight, then every stripe crashes, then the wave must complete.
            for (var wave = 0; wave < kWaves; wave++)
            {
                var ops = PlanWave(random, array.Geometry, random.Next(4, 13));
                var tasks = ops.Select(op => op.IsWrite ? array.WriteAsync(op.Offset, op.Data) : array.ReadAsync(op.Offset, op.Data)).ToList();
                for (var polls = random.Next(3); polls > 0; polls--)
                    await ArrayBackstage.StatusAsync(array); // vary how far the stripes got before the crash
                ArrayBackstage.CrashEveryStripe(array);
                await ArrayBackstage.AllWithinAsync(tasks, kAnswerDeadline, $"seed {seed}, wave {wave}");
                foreach (var op in ops.Where(o => !o.IsWrite))
                    AssertBytes(model, op.Offset, op.Data, $"seed {seed}, wave {wave}: read");
                foreach (var op in ops.Where(o => o.IsWrite))
                    op.Data.CopyTo(model, op.Offset);
            }
            await ArrayBackstage.AwaitStatusAsync(array, _ => log.Count(kReplaced) >= kWaves / 2, kAnswerDeadline, "most waves crashed a stripe");
            output.WriteLine($"{log.Count(kReplaced)} stripes replaced over {kWaves} waves");

            for (var role = 0; role < 4; role++)
                provider.Disk(role).SetLatency(TimeSpan.Zero);
            var whole = new byte[array.CapacityBytes];
            await Within(array.ReadAsync(0, whole), "the final read");
            AssertBytes(model, 0, whole, $"seed {seed}: final read");
            var final = await ArrayBackstage.AwaitStatusAsync(array, s => s.RequestsInFlight == 0, kAnswerDeadline, "replacement resyncs finish");
            Assert.Equal("active", final.State);
            Assert.All(final.Members, m => Assert.Equal("in-sync", m.State));
            Assert.Empty(log.ErrorsNotFrom(kInjectedCrash));
        }

        AssertMembersHold(provider, metadata, model, seed);
    }

    [Fact]
    public async Task A_stripe_crashed_while_idle_is_replaced_without_corrupting_the_stripe_cache()
    {
        var seed = TestArrays.Seed(output, nameof(A_stripe_crashed_while_idle_is_replaced_without_corrupting_the_stripe_cache));
        var provider = new MemoryMemberStoreProvider();
        var config = ConfigurationFactory.ParseString("raid5.stripe-cache-size = 4");
        var array = await CreateAsync(provider, members: 3, chunkBytes: 4096, rows: 32, config);
        await using var _ = new BoundedStop(array, output);
        using var log = new LogCapture(array, output);
        var expected = new ExpectedDevice(array.CapacityBytes, seed);
        var rowBytes = (int)array.Geometry.RowDataBytes;

        // Four rows written: the cache is full of idle stripes.
        for (var row = 0; row < 4; row++)
            await Within(expected.WriteAsync(array, row * rowBytes, rowBytes), $"write of row {row}");
        await ArrayBackstage.AwaitStatusAsync(array, s => s is { StripeCacheActive: 4, RequestsInFlight: 0 }, kAnswerDeadline, "four idle stripes");

        // Crash them while idle; their replacements resync their rows and go idle again.
        ArrayBackstage.CrashEveryStripe(array);
        await ArrayBackstage.AwaitStatusAsync(array, _ => log.Count(kReplaced) == 4, kAnswerDeadline, "four stripes replaced");
        await ArrayBackstage.AwaitStatusAsync(array, s => s.RequestsInFlight == 0, kAnswerDeadline, "replacement resyncs finish");

        // New rows make the cache passivate idle stripes, one per new row.
        for (var row = 4; row < 16; row++)
            await Within(expected.WriteAsync(array, row * rowBytes, rowBytes), $"write of row {row} (passivating an idle stripe)");
        await Within(expected.AssertReadsBackAsync(array), "the final read");
        var status = await ArrayBackstage.StatusAsync(array);
        output.WriteLine(status.ToString());
        Assert.True(status.StripeCacheActive <= 4, $"the cache holds {status.StripeCacheActive} stripes, more than its size");
        Assert.Empty(log.ErrorsNotFrom(kInjectedCrash));
    }

    [Fact]
    public async Task A_stripe_crashed_while_idle_is_later_passivated_by_the_idle_sweep_and_the_array_keeps_serving()
    {
        var seed = TestArrays.Seed(output, nameof(A_stripe_crashed_while_idle_is_later_passivated_by_the_idle_sweep_and_the_array_keeps_serving));
        var provider = new MemoryMemberStoreProvider();
        // Sweeps every second; a stripe idle for two sweeps is passivated.
        var config = ConfigurationFactory.ParseString("raid5.stripe-idle-timeout = 2s");
        var array = await CreateAsync(provider, members: 3, chunkBytes: 4096, rows: 32, config);
        await using var _ = new BoundedStop(array, output);
        using var log = new LogCapture(array, output);
        var expected = new ExpectedDevice(array.CapacityBytes, seed);
        var rowBytes = (int)array.Geometry.RowDataBytes;

        for (var row = 0; row < 4; row++)
            await Within(expected.WriteAsync(array, row * rowBytes, rowBytes), $"write of row {row}");
        ArrayBackstage.CrashEveryStripe(array);
        await ArrayBackstage.AwaitStatusAsync(array, _ => log.Count(kReplaced) == 4, kAnswerDeadline, "four stripes replaced");

        // No traffic: the sweep alone passivates the replacements once they are idle. Then one more
        // row is written and left to the sweep too, so the sweep runs over the cache's idle list again.
        await ArrayBackstage.AwaitStatusAsync(array, s => s is { StripeCacheActive: 0, RequestsInFlight: 0 }, kAnswerDeadline, "every stripe passivated");
        await Within(expected.WriteAsync(array, 5 * rowBytes, rowBytes), "a write after the sweep");
        await ArrayBackstage.AwaitStatusAsync(array, s => s is { StripeCacheActive: 0, RequestsInFlight: 0 }, kAnswerDeadline, "the new stripe passivated");
        Assert.Empty(log.ErrorsNotFrom(kInjectedCrash));
        await Within(expected.AssertReadsBackAsync(array), "the final read");
        Assert.Equal("active", (await ArrayBackstage.StatusAsync(array)).State);
    }

    [Fact]
    public async Task A_check_finishes_without_mismatches_while_its_stripes_keep_crashing()
    {
        var seed = TestArrays.Seed(output, nameof(A_check_finishes_without_mismatches_while_its_stripes_keep_crashing));
        var provider = new SimulatedMemberStoreProvider();
        ArrayMetadata metadata;
        ExpectedDevice expected;
        const int kRows = 96;
        var array = await CreateAsync(provider, members: 4, chunkBytes: 4096, rows: kRows);
        await using (new BoundedStop(array, output))
        {
            metadata = array.Metadata;
            using var log = new LogCapture(array, output);
            expected = new ExpectedDevice(array.CapacityBytes, seed);
            await Within(expected.WriteAsync(array, 0, (int)array.CapacityBytes), "filling the device");
            for (var role = 0; role < 4; role++)
                provider.Disk(role).SetLatency(TimeSpan.FromMilliseconds(1));

            // Crash every stripe each time the check has moved on by a few rows: all along the pass.
            await Within(array.StartSyncAsync(SyncKind.Check), "starting the check");
            var rounds = 0;
            var crashedAtRow = long.MinValue;
            var deadline = DateTime.UtcNow + kWorkloadDeadline;
            var status = await ArrayBackstage.StatusAsync(array);
            while (status.Sync is { } sync && DateTime.UtcNow < deadline)
            {
                if (sync.DoneRows >= crashedAtRow + 4)
                {
                    ArrayBackstage.CrashEveryStripe(array);
                    crashedAtRow = sync.DoneRows;
                    rounds++;
                }
                status = await ArrayBackstage.StatusAsync(array);
            }
            Assert.True(status.Sync is null, $"the check did not finish within {kWorkloadDeadline} (hung): {status}");
            var idle = await array.WaitForSyncAsync(kAnswerDeadline);
            output.WriteLine($"{rounds} crash rounds, {log.Count(kReplaced)} stripes replaced; {idle.Last}");
            Assert.True(log.Count(kReplaced) >= 5, $"only {log.Count(kReplaced)} stripes crashed: the spec did not exercise anything");
            Assert.Null(idle.LastFailure);
            Assert.Equal(kRows, idle.Last!.DoneRows);
            Assert.Equal(0, idle.Last.Mismatches);

            for (var role = 0; role < 4; role++)
                provider.Disk(role).SetLatency(TimeSpan.Zero);
            await Within(expected.AssertReadsBackAsync(array), "the final read");
            await ArrayBackstage.AwaitStatusAsync(array, s => s.RequestsInFlight == 0, kAnswerDeadline, "replacement resyncs finish");
            Assert.Empty(log.ErrorsNotFrom(kInjectedCrash));
        }

        var areas = MemberImage.ReadDataAreas(provider, metadata);
        Assert.Empty(MemberImage.InconsistentRows(metadata.Geometry, areas));
    }

    private Task<Raid5Array> CreateAsync(IMemberStoreProvider provider, int members, int chunkBytes, int rows, Config? config = null)
    {
        var create = new Raid5CreateOptions(members, MemberSuperblock.kDefaultDataOffsetBytes + (long)rows * chunkBytes, chunkBytes);
        var options = new Raid5ArrayOptions
        {
            Members = provider,
            Config = (config ?? Config.Empty)
                .WithFallback(ConfigurationFactory.ParseString($"raid5.request-timeout = {(int)kRequestTimeout.TotalSeconds}s"))
                .WithFallback(TestArrays.Config()),
        };
        return Raid5Array.CreateAsync(_folder, create, options);
    }

    private static Task AllWithin(Task task, string what) => ArrayBackstage.AllWithinAsync([task], kWorkloadDeadline, what);

    private static Task Within(Task task, string what) => ArrayBackstage.AllWithinAsync([task], kAnswerDeadline, what);

    private sealed record Op(bool IsWrite, long Offset, byte[] Data);

    /// <summary>Sector-aligned requests of up to three rows, none overlapping another of its wave.</summary>
    private static List<Op> PlanWave(Random random, ArrayGeometry geometry, int count)
    {
        var ops = new List<Op>(count);
        var sectors = geometry.CapacityBytes / ArrayGeometry.kSectorBytes;
        var maxSectors = (int)(3 * geometry.RowDataBytes / ArrayGeometry.kSectorBytes);
        while (ops.Count < count)
        {
            var length = random.Next(1, maxSectors + 1) * ArrayGeometry.kSectorBytes;
            var offset = random.NextInt64(0, sectors - length / ArrayGeometry.kSectorBytes + 1) * ArrayGeometry.kSectorBytes;
            if (ops.Any(o => o.Offset < offset + length && offset < o.Offset + o.Data.Length))
                continue;
            var data = new byte[length];
            var isWrite = random.Next(100) < 70;
            if (isWrite)
                random.NextBytes(data);
            ops.Add(new Op(isWrite, offset, data));
        }
        return ops;
    }

    private static void AssertBytes(byte[] model, long offset, byte[] actual, string what)
    {
        var expected = model.AsSpan((int)offset, actual.Length);
        var same = expected.CommonPrefixLength(actual);
        if (same < actual.Length)
            Assert.Fail($"{what}: logical byte {offset + same} is 0x{actual[same]:x2}, expected 0x{expected[same]:x2}");
    }

    private static void AssertMembersHold(IMemberStoreProvider provider, ArrayMetadata metadata, byte[] model, int seed)
    {
        var areas = MemberImage.ReadDataAreas(provider, metadata);
        Assert.Empty(MemberImage.InconsistentRows(metadata.Geometry, areas));
        var logical = MemberImage.Assemble(metadata.Geometry, areas);
        Assert.True(logical.AsSpan().SequenceEqual(model), $"seed {seed}: the members do not hold the model at md's layout positions");
    }
}
