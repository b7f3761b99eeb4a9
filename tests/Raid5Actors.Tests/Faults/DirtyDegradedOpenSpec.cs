using System.Diagnostics;
using Akka.Configuration;
using Raid5Actors.Arrays;
using Raid5Actors.Disks;
using Raid5Actors.Geometry;
using Raid5Actors.Stripes;
using Raid5Actors.Tests.Model;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Faults;

/// <summary>
/// Opening an array that lacks a member, after a crash and after a clean stop (md's
/// start_dirty_degraded). After a crash the rows being written may have data and parity out of step,
/// so a missing member's chunks rebuilt from them may be wrong (the RAID5 write hole): the open is
/// refused and says why, unless forced; a forced open serves every row that was not being written
/// exactly. After a clean stop every row is consistent: AllowDegraded is enough, and nothing is dirty.
/// </summary>
public sealed class DirtyDegradedOpenSpec(ITestOutputHelper output)
{
    private const int kOperations = 300;
    private const int kHoleWrites = 6;

    public static TheoryData<Raid5Layout, int, int, int, FailureKind?> CrashCases() => new()
    {
        // Lost while running, then the crash.
        { Raid5Layout.LeftSymmetric, 4, 4096, 1, FailureKind.Operator },
        { Raid5Layout.RightSymmetric, 4, 65536, 3, FailureKind.Killed },
        // The crash with every member in, then one is missing at the next open (null: pulled after the crash).
        { Raid5Layout.LeftAsymmetric, 4, 4096, 0, null },
        { Raid5Layout.ParityLast, 3, 4096, 2, null },
    };

    [Theory]
    [MemberData(nameof(CrashCases))]
    public async Task A_crashed_array_missing_a_member_opens_only_when_forced_and_then_serves_every_row_not_being_written(
        Raid5Layout layout, int members, int chunkBytes, int lostRole, FailureKind? lostBeforeCrash)
    {
        var seed = TestArrays.Seed(output, $"{layout} n={members} chunk={chunkBytes} role {lostRole} lost {(lostBeforeCrash is { } k ? $"before the crash ({k})" : "after the crash")}");
        var random = new Random(seed);
        var folder = TestArrays.NewFolder("dirty-degraded");
        try
        {
            var provider = new SimulatedMemberStoreProvider();
            var config = TestArrays.Config();
            var options = new Raid5ArrayOptions { Members = provider, Config = config };
            var dataBytes = chunkBytes == 4096 ? 128L * chunkBytes : 16L * chunkBytes;
            var create = new Raid5CreateOptions(members, MemberSuperblock.kDefaultDataOffsetBytes + dataBytes, chunkBytes, layout);

            var array = await Raid5Array.CreateAsync(folder, create, options);
            var geometry = array.Geometry;
            var workload = new ModelWorkload(array, seed, output);
            await workload.RunAsync(kOperations);
            if (lostBeforeCrash is { } kind)
            {
                await MemberFaults.FailAsync(array, provider, lostRole, kind, random);
                await workload.RunAsync(kOperations);
                MemberFaults.AssertDegraded(await array.GetStatusAsync(), lostRole);
            }
            await array.FlushAsync();
            var durable = workload.Model.ToArray();

            // Acknowledged but never flushed: these rows are being written when the power goes.
            var holes = await WriteHolesAsync(array, random);
            await MemberFaults.CrashAsync(array, folder, config);
            foreach (var report in provider.LosePowerAll(random, PowerLossMode.KeepRandomSubset))
                output.WriteLine(report.ToString());
            // A dead disk is pulled before the restart (one left in place is another spec's subject).
            if (lostBeforeCrash is null or FailureKind.Killed)
                provider.Remove(lostRole);

            if (lostBeforeCrash is null)
            {
                // A member that was in sync and is now missing is refused first for being missing, as after a clean stop.
                var missing = await Assert.ThrowsAsync<Raid5MemberException>(() => Raid5Array.OpenAsync(folder, options));
                output.WriteLine($"open: {missing.Message}");
                Assert.Contains($"sim:{lostRole} is missing", missing.Message);
                Assert.Contains("AllowDegraded", missing.Message);
                Assert.Equal(Raid5OpenOverride.AllowDegraded, missing.Override);
            }
            foreach (var refusedOptions in lostBeforeCrash is null ? [options with { AllowDegraded = true }] : new[] { options, options with { AllowDegraded = true } })
            {
                var refused = await Assert.ThrowsAsync<Raid5OpenException>(() => Raid5Array.OpenAsync(folder, refusedOptions));
                output.WriteLine($"open (AllowDegraded={refusedOptions.AllowDegraded}): {refused.Message}");
                Assert.Contains("not stopped cleanly", refused.Message);
                Assert.Contains($"member {lostRole} missing", refused.Message);
                Assert.Contains("write hole", refused.Message);
                Assert.Contains("Force", refused.Message);
                Assert.Equal(Raid5OpenOverride.Force, refused.Override);
            }

            await using (var forced = await Raid5Array.OpenAsync(folder, options with { Force = true }))
            {
                Assert.False(forced.Metadata.Clean);
                var status = await forced.GetStatusAsync();
                output.WriteLine($"open with Force: {status}");
                MemberFaults.AssertDegraded(status, lostRole);

                var image = new byte[geometry.CapacityBytes];
                await forced.ReadAsync(0, image);
                AssertServesEveryRowNotBeingWritten(geometry, image, durable, holes, lostRole, seed);

                // It runs degraded like any other array: new writes read back.
                var fresh = new byte[geometry.RowDataBytes + 4096];
                random.NextBytes(fresh);
                await forced.WriteAsync(geometry.RowDataBytes - 2048, fresh, fua: true);
                var back = new byte[fresh.Length];
                await forced.ReadAsync(geometry.RowDataBytes - 2048, back);
                Assert.Equal(fresh, back);
            }

            // The resync it needed never ran (it cannot, degraded): it stays dirty, and the next open must be forced again.
            var again = await Assert.ThrowsAsync<Raid5OpenException>(() => Raid5Array.OpenAsync(folder, options with { AllowDegraded = true }));
            Assert.Contains("write hole", again.Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// md kicks members whose I/O fails, and a journal on another device records it; when every disk
    /// drops out at once (a controller or shelf going away) while one member is already gone, the
    /// disks themselves still hold every flushed byte. Forcing the open must bring back the members
    /// that were in sync until the end (mdadm --assemble --force) and serve the data.
    /// </summary>
    [Fact]
    public async Task Every_disk_dropping_out_while_degraded_leaves_an_array_that_a_forced_open_serves()
    {
        const int kFirstLost = 1;
        var seed = TestArrays.Seed(output, "every disk drops out while degraded");
        var folder = TestArrays.NewFolder("all-disks-out");
        try
        {
            var provider = new SimulatedMemberStoreProvider();
            var options = new Raid5ArrayOptions { Members = provider, Config = TestArrays.Config() };
            var create = new Raid5CreateOptions(4, MemberSuperblock.kDefaultDataOffsetBytes + 64L * 4096, 4096, Raid5Layout.LeftSymmetric);
            byte[] model;
            await using (var array = await Raid5Array.CreateAsync(folder, create, options))
            {
                var workload = new ModelWorkload(array, seed, output);
                await workload.RunAsync(kOperations);
                await array.FailMemberAsync(kFirstLost);
                await workload.RunAsync(kOperations);
                await array.FlushAsync();
                model = workload.Model;
                foreach (var role in new[] { 0, 2, 3 })
                    provider.Disk(role).Kill();
            }
            // The stop's flush met dead disks: it was not a clean stop.

            foreach (var role in new[] { 0, 2, 3 })
                provider.Disk(role).Revive();
            provider.Remove(kFirstLost);

            var refused = await Assert.ThrowsAnyAsync<Raid5Exception>(() => Raid5Array.OpenAsync(folder, options with { AllowDegraded = true }));
            output.WriteLine($"open with AllowDegraded: {refused.Message}");

            await using var forced = await Raid5Array.OpenAsync(folder, options with { Force = true });
            var status = await forced.GetStatusAsync();
            output.WriteLine($"open with Force: {status}");
            MemberFaults.AssertDegraded(status, kFirstLost);
            var image = new byte[forced.CapacityBytes];
            await forced.ReadAsync(0, image);
            var difference = MemberFaults.FirstDifference(model, image);
            Assert.True(difference < 0, $"seed {seed}: first difference at logical byte {difference}");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    public static TheoryData<FailureKind> CleanStopCases() => new() { FailureKind.Operator, FailureKind.Killed };

    [Theory]
    [MemberData(nameof(CleanStopCases))]
    public async Task A_clean_stop_while_degraded_reopens_with_AllowDegraded_and_nothing_is_dirty(FailureKind kind)
    {
        const int kLostRole = 2;
        var seed = TestArrays.Seed(output, $"clean stop while degraded ({kind})");
        var folder = TestArrays.NewFolder("clean-degraded");
        try
        {
            var provider = new SimulatedMemberStoreProvider();
            var options = new Raid5ArrayOptions { Members = provider, Config = TestArrays.Config() };
            var create = new Raid5CreateOptions(4, MemberSuperblock.kDefaultDataOffsetBytes + 64L * 4096, 4096, Raid5Layout.RightAsymmetric);
            byte[] model;
            await using (var array = await Raid5Array.CreateAsync(folder, create, options))
            {
                var workload = new ModelWorkload(array, seed, output);
                await workload.RunAsync(kOperations);
                await MemberFaults.FailAsync(array, provider, kLostRole, kind, new Random(seed));
                await workload.RunAsync(kOperations);
                MemberFaults.AssertDegraded(await array.GetStatusAsync(), kLostRole);
                model = workload.Model;
            }
            if (kind == FailureKind.Killed)
                provider.Remove(kLostRole);

            await using (var reopened = await Raid5Array.OpenAsync(folder, options with { AllowDegraded = true }))
                await AssertCleanDegradedAsync(reopened, kLostRole, model, seed);

            // The member was already faulty when the array stopped: like mdadm, the open needs no flag at all.
            await using (var plain = await Raid5Array.OpenAsync(folder, options))
                await AssertCleanDegradedAsync(plain, kLostRole, model, seed);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task A_member_missing_after_a_clean_stop_needs_AllowDegraded_and_nothing_is_dirty()
    {
        const int kLostRole = 0;
        var seed = TestArrays.Seed(output, "member missing after a clean stop");
        var folder = TestArrays.NewFolder("clean-missing");
        try
        {
            var provider = new SimulatedMemberStoreProvider();
            var options = new Raid5ArrayOptions { Members = provider, Config = TestArrays.Config() };
            var create = new Raid5CreateOptions(4, MemberSuperblock.kDefaultDataOffsetBytes + 32L * 65536, 65536, Raid5Layout.ParityFirst);
            byte[] model;
            await using (var array = await Raid5Array.CreateAsync(folder, create, options))
            {
                var workload = new ModelWorkload(array, seed, output);
                await workload.RunAsync(kOperations);
                model = workload.Model;
            }
            provider.Remove(kLostRole);

            var refused = await Assert.ThrowsAsync<Raid5MemberException>(() => Raid5Array.OpenAsync(folder, options));
            output.WriteLine($"open: {refused.Message}");
            Assert.Contains("missing", refused.Message);
            Assert.Contains("AllowDegraded", refused.Message);

            await using var reopened = await Raid5Array.OpenAsync(folder, options with { AllowDegraded = true });
            await AssertCleanDegradedAsync(reopened, kLostRole, model, seed);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>A disk that is there but fails every read is as good as missing: AllowDegraded leaves it out (md skips a device it cannot read).</summary>
    [Fact]
    public async Task A_member_that_cannot_be_read_at_open_is_left_out_with_AllowDegraded()
    {
        const int kLostRole = 3;
        var seed = TestArrays.Seed(output, "unreadable member at open");
        var folder = TestArrays.NewFolder("unreadable");
        try
        {
            var provider = new SimulatedMemberStoreProvider();
            var options = new Raid5ArrayOptions { Members = provider, Config = TestArrays.Config() };
            var create = new Raid5CreateOptions(4, MemberSuperblock.kDefaultDataOffsetBytes + 64L * 4096, 4096, Raid5Layout.LeftSymmetric);
            byte[] model;
            await using (var array = await Raid5Array.CreateAsync(folder, create, options))
            {
                var workload = new ModelWorkload(array, seed, output);
                await workload.RunAsync(kOperations);
                model = workload.Model;
            }
            provider.Disk(kLostRole).Kill();

            await using var reopened = await Raid5Array.OpenAsync(folder, options with { AllowDegraded = true });
            await AssertCleanDegradedAsync(reopened, kLostRole, model, seed);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// Disposing an array while a sync pass has rows in flight is a clean stop: it returns promptly
    /// and the next open finds the array clean (no resync).
    /// </summary>
    [Fact]
    public async Task Disposing_during_a_check_is_a_prompt_clean_stop()
    {
        var folder = TestArrays.NewFolder("stop-during-check");
        try
        {
            var provider = new SimulatedMemberStoreProvider();
            // A short request timeout bounds how long a stuck stop can hold the test.
            var config = ConfigurationFactory.ParseString("raid5.request-timeout = 5s").WithFallback(TestArrays.Config());
            var options = new Raid5ArrayOptions { Members = provider, Config = config };
            var create = new Raid5CreateOptions(4, MemberSuperblock.kDefaultDataOffsetBytes + 1024L * 4096, 4096, Raid5Layout.LeftSymmetric);
            var array = await Raid5Array.CreateAsync(folder, create, options);
            await array.WriteAsync(0, new byte[64 * 1024]);
            for (var role = 0; role < 4; role++)
                provider.Disk(role).SetLatency(TimeSpan.FromMilliseconds(2));
            var started = await array.StartSyncAsync(SyncKind.Check);
            output.WriteLine($"started: {started}");
            // Once rows have completed the pass keeps rows-in-flight rows out until it ends (1024 rows at 2 ms a read).
            var running = await MemberFaults.WaitForStatusAsync(array, s => s.Sync is { DoneRows: > 0 }, TimeSpan.FromSeconds(30));
            output.WriteLine($"running: {running.Sync}");
            Assert.True(running.Sync!.DoneRows < running.Sync.TotalRows / 2, "the check ran too fast to be stopped in the middle");

            var stopwatch = Stopwatch.StartNew();
            await array.DisposeAsync();
            output.WriteLine($"dispose took {stopwatch.ElapsedMilliseconds} ms");
            for (var role = 0; role < 4; role++)
                provider.Disk(role).SetLatency(TimeSpan.Zero);

            await using var reopened = await Raid5Array.OpenAsync(folder, options);
            var status = await reopened.GetStatusAsync();
            output.WriteLine(status.ToString());
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"disposing during a check took {stopwatch.Elapsed}");
            Assert.True(reopened.Metadata.Clean, "the stop during a check left the array dirty: the next open resyncs");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private async Task AssertCleanDegradedAsync(Raid5Array array, int lostRole, byte[] model, int seed)
    {
        Assert.True(array.Metadata.Clean, "a clean stop left the array dirty");
        var status = await array.GetStatusAsync();
        output.WriteLine(status.ToString());
        MemberFaults.AssertDegraded(status, lostRole);
        Assert.Null(status.Sync);
        Assert.Null(status.LastSync);
        var image = new byte[array.CapacityBytes];
        await array.ReadAsync(0, image);
        var difference = MemberFaults.FirstDifference(model, image);
        Assert.True(difference < 0, $"seed {seed}: first difference at logical byte {difference}");
    }

    private sealed record Hole(long Offset, byte[] Data)
    {
        public bool Covers(long position) => position >= Offset && position < Offset + Data.Length;
    }

    /// <summary>Non-overlapping writes, acknowledged and never flushed.</summary>
    private static async Task<List<Hole>> WriteHolesAsync(Raid5Array array, Random random)
    {
        var geometry = array.Geometry;
        var holes = new List<Hole>();
        while (holes.Count < kHoleWrites)
        {
            var sectors = random.Next(1, (int)Math.Min(2 * geometry.RowDataBytes / 512, 64) + 1);
            var offset = random.NextInt64(0, geometry.CapacityBytes / 512 - sectors + 1) * 512;
            if (holes.Any(h => h.Offset < offset + sectors * 512 && offset < h.Offset + h.Data.Length))
                continue;
            var data = new byte[sectors * 512];
            random.NextBytes(data);
            holes.Add(new Hole(offset, data));
        }
        await Task.WhenAll(holes.Select(h => array.WriteAsync(h.Offset, h.Data)));
        return holes;
    }

    /// <summary>
    /// Sector by sector: a row not being written reads exactly as flushed; in a row being written, a
    /// sector on a surviving member holds its flushed or its new value (a torn write keeps whole
    /// sectors); a sector of the missing member in such a row is rebuilt from data and parity that may
    /// be out of step (the write hole Force accepted) and is not checked.
    /// </summary>
    private void AssertServesEveryRowNotBeingWritten(ArrayGeometry geometry, byte[] image, byte[] durable, List<Hole> holes, int lostRole, int seed)
    {
        var holeRows = holes
            .SelectMany(h => Enumerable.Range(0, h.Data.Length / 512).Select(s => geometry.Locate(h.Offset + s * 512L).Row))
            .ToHashSet();
        int exact = 0, oldOrNew = 0, inHole = 0;
        for (long position = 0; position < geometry.CapacityBytes; position += 512)
        {
            var location = geometry.Locate(position);
            var actual = image.AsSpan(checked((int)position), 512);
            var flushed = durable.AsSpan(checked((int)position), 512);
            if (location.Member == lostRole && holeRows.Contains(location.Row))
            {
                inHole++;
                continue;
            }
            if (holes.FirstOrDefault(h => h.Covers(position)) is { } hole)
            {
                var written = hole.Data.AsSpan(checked((int)(position - hole.Offset)), 512);
                Assert.True(actual.SequenceEqual(flushed) || actual.SequenceEqual(written),
                    $"seed {seed}: sector at logical byte {position} (row {location.Row}, member {location.Member}) is neither its flushed nor its new value");
                oldOrNew++;
                continue;
            }
            Assert.True(actual.SequenceEqual(flushed),
                $"seed {seed}: sector at logical byte {position} (row {location.Row}, member {location.Member}) differs from what was flushed");
            exact++;
        }
        output.WriteLine($"{exact} sectors exact, {oldOrNew} old-or-new, {inHole} in the write hole (rows {string.Join(", ", holeRows.Order())})");
    }
}
