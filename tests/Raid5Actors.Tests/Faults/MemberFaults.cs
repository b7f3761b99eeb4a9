using System.Security.Cryptography;
using Akka.Actor;
using Akka.Configuration;
using Raid5Actors.Arrays;
using Raid5Actors.Configuration;
using Raid5Actors.Disks;
using Raid5Actors.Geometry;
using Raid5Actors.Parity;
using Raid5Actors.Persistence;
using Raid5Actors.Tests.Model;

namespace Raid5Actors.Tests.Faults;

/// <summary>How a fault spec loses a member.</summary>
public enum FailureKind
{
    /// <summary>The operator marks it failed (mdadm --fail) between two waves of requests.</summary>
    Operator,

    /// <summary>Its disk dies between two waves: every read, write and flush fails from then on.</summary>
    Killed,

    /// <summary>
    /// Its disk dies in the middle of a wave: after a seeded number of further reads and writes every
    /// one fails, so requests in flight meet the failure half way.
    /// </summary>
    DiesMidWave,
}

/// <summary>Injecting member failures into a running array and looking at what the members hold.</summary>
internal static class MemberFaults
{
    /// <summary>Fails <paramref name="role"/> the way <paramref name="kind"/> says. Only the operator's failure is immediate.</summary>
    public static async Task FailAsync(Raid5Array array, IMemberStoreProvider members, int role, FailureKind kind, Random random)
    {
        switch (kind)
        {
            case FailureKind.Operator:
                var changed = await array.FailMemberAsync(role);
                Assert.Equal(MemberState.Faulty, changed.Metadata.Slots[role].State);
                break;
            case FailureKind.Killed:
                Simulated(members).Disk(role).Kill();
                break;
            case FailureKind.DiesMidWave:
                var disk = Simulated(members).Disk(role);
                var readsLeft = disk.ReadCount + random.Next(0, 32);
                var writesLeft = disk.WriteCount + random.Next(0, 32);
                disk.ChangeFaults(f => f with { FailReadsAboveCount = readsLeft, FailWritesAboveCount = writesLeft });
                break;
        }
    }

    /// <summary>A disk that failed "in the middle" is dead for good from now on (flushes fail too).</summary>
    public static void Bury(IMemberStoreProvider members, int role, FailureKind kind)
    {
        if (kind != FailureKind.Operator)
            Simulated(members).Disk(role).Kill();
    }

    public static SimulatedMemberStoreProvider Simulated(IMemberStoreProvider members) =>
        members as SimulatedMemberStoreProvider
        ?? throw new InvalidOperationException($"a disk failure needs simulated members, not {members.GetType().Name}");

    /// <summary>The array runs degraded and says which role is gone; every other role is in sync.</summary>
    public static void AssertDegraded(ArrayStatus status, int faultyRole)
    {
        Assert.Equal("degraded", status.State);
        Assert.True(status.Degraded, status.ToString());
        Assert.All(
            status.Members.Where(m => m.Role >= 0),
            m => Assert.True(m.State == (m.Role == faultyRole ? "faulty" : "in-sync"), $"role {m.Role} is {m.State}: {status}"));
    }

    /// <summary>The array has lost two roles: it says "failed" and names both.</summary>
    public static void AssertFailed(ArrayStatus status, params int[] lostRoles)
    {
        Assert.Equal("failed", status.State);
        Assert.All(
            status.Members.Where(m => m.Role >= 0),
            m => Assert.True(
                lostRoles.Contains(m.Role) ? m.State is "faulty" or "removed" : m.State == "in-sync",
                $"role {m.Role} is {m.State}: {status}"));
    }

    /// <summary>
    /// The logical device as the surviving members alone hold it: every data area read raw, the lost
    /// role's rebuilt as the XOR of the others. Equal to the model means I4 holds on the media.
    /// </summary>
    public static byte[] AssembleWithout(IMemberStoreProvider members, ArrayMetadata metadata, int lostRole)
    {
        var areas = new byte[metadata.MemberCount][];
        var survivors = new List<ReadOnlyMemory<byte>>();
        for (var role = 0; role < metadata.MemberCount; role++)
        {
            areas[role] = new byte[metadata.MemberDataBytes];
            if (role == lostRole)
                continue;
            using var store = members.Open(metadata.Slots[role].Device);
            store.Read(metadata.DataOffsetBytes, areas[role]);
            survivors.Add(areas[role]);
        }
        XorParity.Compute(areas[lostRole], survivors.ToArray());
        return MemberImage.Assemble(metadata.Geometry, areas);
    }

    /// <summary>SHA-256 of a simulated member's durable data area (superblock excluded: it records every membership change).</summary>
    public static string DataAreaHash(SimulatedDisk disk, ArrayMetadata metadata)
    {
        Assert.True(disk.PendingWrites == 0, $"{disk.Name} holds {disk.PendingWrites} unflushed writes: flush before fingerprinting");
        return Convert.ToHexString(SHA256.HashData(disk.Platter.AsSpan(checked((int)metadata.DataOffsetBytes), checked((int)metadata.MemberDataBytes))));
    }

    /// <summary>
    /// Stops the array as a crash would: its ActorSystem is terminated without the array's Stop, so
    /// nothing is drained, nothing flushed and the clean flag is not set. The journal's connections
    /// are released so that the folder can be opened again. Do not use or dispose the array afterwards.
    /// </summary>
    public static async Task CrashAsync(Raid5Array array, string folder, Config config)
    {
        var system = ((ActorRefWithCell)array.Actor).Underlying.System;
        await system.Terminate();
        SqlitePersistence.ReleaseDatabase(Raid5ArrayConfig.DatabasePath(folder, Raid5Settings.Create(config)));
    }

    /// <summary>Polls the status until <paramref name="done"/> holds: only for changes the API offers no event for.</summary>
    public static async Task<ArrayStatus> WaitForStatusAsync(Raid5Array array, Func<ArrayStatus, bool> done, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var status = await array.GetStatusAsync();
            if (done(status))
                return status;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"the array did not reach the expected state within {timeout}: {status}");
            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }
    }

    /// <summary>Whether the logical range touches a chunk of one of <paramref name="lostRoles"/>.</summary>
    public static bool TouchesLost(ArrayGeometry geometry, long offset, int length, IReadOnlyCollection<int> lostRoles)
    {
        var first = offset / geometry.ChunkBytes;
        var last = (offset + length - 1) / geometry.ChunkBytes;
        for (var chunk = first; chunk <= last; chunk++)
        {
            if (lostRoles.Contains(geometry.Locate(chunk * geometry.ChunkBytes).Member))
                return true;
        }
        return false;
    }

    /// <summary>Index of the first byte where <paramref name="actual"/> differs from <paramref name="expected"/>, or -1.</summary>
    public static int FirstDifference(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual)
    {
        var common = expected.CommonPrefixLength(actual);
        return common == actual.Length ? -1 : common;
    }
}
