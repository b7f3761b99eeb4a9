using System.Diagnostics;
using Akka.Configuration;
using Raid5Actors.Arrays;
using Raid5Actors.Disks;
using Raid5Actors.Geometry;
using Raid5Actors.Stripes;
using Raid5Actors.Tests.Arrays;
using Raid5Actors.Tests.Model;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Rebuild;

/// <summary>
/// A failed member is rebuilt while the array keeps serving a model-checked workload: onto a hot
/// spare by itself, or onto a device the operator adds. The rebuild is held to the speed limits so
/// that it overlaps the workload; its progress only moves forward and ends at 100%; afterwards every
/// role is in sync, every row's parity holds on the raw members, the new member holds exactly what
/// the others XOR to, and the device reads back as the model.
/// </summary>
public sealed class RebuildUnderLoadSpec(ITestOutputHelper output) : IDisposable
{
    private const int kMembers = 4;
    private const int kChunkBytes = 4096;
    private const long kRows = 128;
    private const long kBitmapChunkBytes = 64 << 10;
    private const long kSpeedMinBytes = 256 << 10; // 64 rows/s under load: about 2 s for the whole member
    private const long kSpeedMaxBytes = 512 << 10;
    private const int kRowsInFlight = 4;
    private const int kOperationsBefore = 300;
    private const int kOperationsPerRound = 24;
    private static readonly TimeSpan kRebuildTimeout = TimeSpan.FromSeconds(30);

    private readonly TemporaryFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>
    /// Sync pacing for these specs, on top of the small test arrays. A short request timeout bounds
    /// how long a stop that never answers holds a failing spec (the facade waits twice that long).
    /// </summary>
    public static Config SlowSyncConfig(
        long speedMinBytes = kSpeedMinBytes, long speedMaxBytes = kSpeedMaxBytes, string checkpointInterval = "100ms", int rowsInFlight = kRowsInFlight) =>
        ConfigurationFactory.ParseString($$"""
            raid5.request-timeout = 10s
            raid5.sync {
              speed-min = {{speedMinBytes}}
              speed-max = {{speedMaxBytes}}
              rows-in-flight = {{rowsInFlight}}
              checkpoint-interval = {{checkpointInterval}}
            }
            """).WithFallback(TestArrays.Config(kBitmapChunkBytes));

    [Fact]
    public Task Recovery_onto_a_hot_spare_starts_by_itself_and_rebuilds_while_a_model_checked_workload_runs() =>
        RebuildUnderLoad(MemberKind.Files, Raid5Layout.LeftSymmetric, spares: 1, nameof(Recovery_onto_a_hot_spare_starts_by_itself_and_rebuilds_while_a_model_checked_workload_runs));

    [Fact]
    public Task A_device_added_by_hand_after_a_failure_is_created_blank_and_rebuilt_while_a_model_checked_workload_runs() =>
        RebuildUnderLoad(MemberKind.Memory, Raid5Layout.RightAsymmetric, spares: 0, nameof(A_device_added_by_hand_after_a_failure_is_created_blank_and_rebuilt_while_a_model_checked_workload_runs));

    private async Task RebuildUnderLoad(MemberKind kind, Raid5Layout layout, int spares, string test)
    {
        var seed = TestArrays.Seed(output, $"{test} ({kind}, {layout})");
        var failedRole = (int)((uint)seed % kMembers);
        const int replacement = kMembers; // the hot spare, or the next free device index for a device added by hand
        output.WriteLine($"failing role {failedRole}; it is rebuilt onto device {replacement}");
        var array = new ArrayUnderTest(_temp.PathOf("array"), kind, SlowSyncConfig());
        var create = new Raid5CreateOptions(kMembers, MemberSuperblock.kDefaultDataOffsetBytes + kRows * kChunkBytes, kChunkBytes, layout, kBitmapChunkBytes, spares);
        ArrayMetadata created;
        ModelWorkload workload;
        List<ArrayStatus> samples;
        ArrayStatus final;
        TimeSpan elapsed;
        int rounds = 0, roundsInsideRebuild = 0;

        await using (var raid = await array.CreateAsync(create))
        {
            created = raid.Metadata;
            Assert.Equal(kRows, raid.Geometry.RowCount);
            workload = new ModelWorkload(raid, seed, output);
            await workload.RunAsync(kOperationsBefore);

            var stopwatch = Stopwatch.StartNew();
            var failed = await raid.FailMemberAsync(failedRole);
            Assert.Equal($"member {failedRole} marked faulty", failed.Outcome);
            if (spares == 0)
            {
                var degraded = await raid.GetStatusAsync();
                Assert.Equal("degraded", degraded.State);
                Assert.Null(degraded.Sync);
                Assert.Equal("faulty", degraded.Members.Single(m => m.Role == failedRole).State);
                Assert.False(array.Members.Exists(replacement));

                var added = await raid.AddMemberAsync();
                Assert.Equal($"{array.Members.Describe(replacement)} added as a spare", added.Outcome);
                Assert.True(array.Members.Exists(replacement), "AddMemberAsync() did not create the device");
                Assert.Equal(created.DataOffsetBytes + created.MemberDataBytes, array.ReadMember(replacement).LongLength);
            }

            ArrayStatus? latest = null;
            var sampling = StatusPolling.SampleRecovery(raid, kRebuildTimeout, s => latest = s);
            while (!sampling.IsCompleted)
            {
                var before = latest;
                await workload.RunAsync(kOperationsPerRound);
                rounds++;
                if (before?.Sync is { } sync && sync.DoneRows < sync.TotalRows && !sampling.IsCompleted)
                    roundsInsideRebuild++;
            }
            samples = await sampling;
            elapsed = stopwatch.Elapsed;
            await workload.VerifyAllAsync();
            final = await raid.GetStatusAsync();
            output.WriteLine($"{samples.Count} status samples, {rounds} workload rounds ({roundsInsideRebuild} wholly inside the rebuild), rebuilt in {elapsed.TotalMilliseconds:F0} ms");
            output.WriteLine(final.ToString());
        }

        AssertRebuildRanWhileRecovering(samples, failedRole, replacement);
        Assert.True(roundsInsideRebuild >= 2, $"seed {seed}: the workload did not overlap the rebuild ({roundsInsideRebuild} of {rounds} rounds inside it)");
        // Half the time speed-max allows: room for the pacer's initial burst, none for a rebuild that ignores the limit.
        var fastest = TimeSpan.FromSeconds(0.5 * kRows * kChunkBytes / kSpeedMaxBytes);
        Assert.True(elapsed >= fastest, $"seed {seed}: rebuilt in {elapsed}, faster than speed-max allows ({fastest})");
        // speed-min is kept under load; five times its time is slack for a busy machine, not for a starved rebuild.
        var slowest = TimeSpan.FromSeconds(5.0 * kRows * kChunkBytes / kSpeedMinBytes);
        Assert.True(elapsed <= slowest, $"seed {seed}: rebuilt in {elapsed}, far slower than speed-min ({slowest})");

        Assert.Equal("active", final.State);
        Assert.Null(final.Sync);
        Assert.Null(final.LastSyncFailure);
        Assert.Equal(Enumerable.Range(0, kMembers).Select(r => (r, "in-sync")), final.Members.Select(m => (m.Role, m.State)));
        Assert.Equal(replacement, final.Members.Single(m => m.Role == failedRole).Device);
        Assert.NotNull(final.Bitmap);
        Assert.Equal(0, final.Bitmap.PendingResyncChunks);

        var geometry = created.Geometry;
        var areas = RoleImages.Read(array.Members, created, RoleImages.DevicesByRole(final));
        Assert.Empty(MemberImage.InconsistentRows(geometry, areas));
        RoleImages.AssertHoldsReconstruction(areas, failedRole, $"seed {seed}: the rebuilt member");
        Assert.True(MemberImage.Assemble(geometry, areas).AsSpan().SequenceEqual(workload.Model), $"seed {seed}: the raw members do not hold the model");
        var superblock = array.ReadSuperblock(replacement);
        Assert.Equal((created.ArrayId, failedRole, final.Events), (superblock.ArrayId, superblock.Role, superblock.Events));
    }

    private static void AssertRebuildRanWhileRecovering(List<ArrayStatus> samples, int failedRole, int replacement)
    {
        var running = samples.Where(s => s.Sync is not null).ToList();
        Assert.True(running.Count >= 10, $"only {running.Count} samples saw the rebuild running");
        foreach (var status in running)
        {
            Assert.Equal("recovering", status.State);
            Assert.Equal((SyncKind.Recover, failedRole, kRows, (long)kChunkBytes), (status.Sync!.Kind, status.Sync.TargetRole, status.Sync.TotalRows, status.Sync.RowBytes));
            var target = status.Members.Single(m => m.Role == failedRole);
            Assert.Equal((replacement, "rebuilding"), (target.Device, target.State));
            Assert.All(status.Members.Where(m => m.Role >= 0 && m.Role != failedRole), m => Assert.Equal("in-sync", m.State));
            Assert.DoesNotContain(status.Members, m => m.Role < 0); // the spare (or the added device) was consumed
        }

        var last = samples[^1].LastSync!;
        Assert.Equal((SyncKind.Recover, failedRole, kRows, kRows), (last.Kind, last.TargetRole, last.DoneRows, last.TotalRows));
        Assert.Equal(100.0, last.Percent);
        Assert.Null(samples[^1].LastSyncFailure);

        var progress = running.Select(s => s.Sync!).Append(last).ToList();
        for (var i = 1; i < progress.Count; i++)
        {
            Assert.True(progress[i].DoneRows >= progress[i - 1].DoneRows, $"progress went back from {progress[i - 1]} to {progress[i]}");
            Assert.True(progress[i].Percent >= progress[i - 1].Percent, $"percent went back from {progress[i - 1]} to {progress[i]}");
        }

        var moving = running.Select(s => s.Sync!).Where(s => s.DoneRows > 0 && s.DoneRows < s.TotalRows).ToList();
        Assert.True(moving.Count >= 5, $"only {moving.Count} samples caught the rebuild part way");
        Assert.All(moving, s =>
        {
            Assert.True(s.BytesPerSecond > 0, $"no rate while running: {s}");
            Assert.True(s.Eta is { } eta && eta > TimeSpan.Zero, $"no ETA while running: {s}");
        });
    }
}
