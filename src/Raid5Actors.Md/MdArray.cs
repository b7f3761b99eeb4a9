using System.Buffers;
using Microsoft.Win32.SafeHandles;
using Raid5Actors.Arrays;
using Raid5Actors.Geometry;
using Raid5Actors.Parity;

namespace Raid5Actors.Md;

/// <summary>
/// A Linux md RAID5 array read straight from its member images, in user space: assembled the way
/// mdadm would (<see cref="MdAssembler"/>), placed by the engine's md-compatible <see cref="ArrayGeometry"/>,
/// and served read-only. A missing role is rebuilt by XOR of the others on every read.
/// </summary>
/// <remarks>
/// Owns: one open handle per used member, closed by Dispose. Guarantees: nothing is ever written to
/// an image; every state is fixed at <see cref="Open"/>, so reads are thread-safe and any number may
/// be in flight (each piece is a positional read, <see cref="RandomAccess"/>).
/// </remarks>
public sealed class MdArray : IBlockDevice, IDisposable, IAsyncDisposable
{
    private readonly SafeFileHandle?[] _byRole;
    private readonly long[] _dataOffsetBytes;
    private readonly string[] _pathByRole;
    private readonly int _missingRole;
    private int _disposed;

    private MdArray(MdAssembler.Plan plan, SafeFileHandle?[] byRole)
    {
        Report = plan.Report;
        Superblock = plan.Freshest;
        Geometry = ArrayGeometry.Create(Report.RaidDisks, Report.ChunkBytes, Report.Layout, Report.MemberDataBytes);
        _byRole = byRole;
        _dataOffsetBytes = plan.ByRole.Select(sb => sb is null ? 0 : (long)sb.DataOffsetSectors * MdFormat.kSectorBytes).ToArray();
        _pathByRole = plan.ByRole.Select(sb => sb?.ImagePath ?? "").ToArray();
        _missingRole = Report.MissingRoles.Count == 0 ? -1 : Report.MissingRoles[0];
    }

    public MdAssemblyReport Report { get; }

    /// <summary>The freshest member's superblock, which defines the array.</summary>
    public MdSuperblock Superblock { get; }

    public ArrayGeometry Geometry { get; }

    public long CapacityBytes => Geometry.CapacityBytes;

    public bool IsReadOnly => true;

    /// <summary>
    /// Assembles the array from <paramref name="imagePaths"/> (one per member, any order; spares and
    /// stale members may be among them). Throws <see cref="MdFormatException"/> for an image without a
    /// valid md superblock or an array this reader cannot serve, and <see cref="MdAssemblyException"/>
    /// when the images do not form one usable array.
    /// </summary>
    public static MdArray Open(IReadOnlyList<string> imagePaths, MdAssemblyOptions? options = null)
    {
        var handles = new SafeFileHandle?[imagePaths.Count];
        try
        {
            var superblocks = new MdSuperblock[imagePaths.Count];
            for (var i = 0; i < imagePaths.Count; i++)
            {
                var handle = handles[i] = MdSuperblock.OpenImage(imagePaths[i]);
                superblocks[i] = MdSuperblock.Probe(handle, imagePaths[i], out var missing) ?? throw new MdFormatException(imagePaths[i], missing);
            }

            var plan = MdAssembler.Decide(superblocks, options ?? MdAssemblyOptions.Default);

            // The used handles move to the array; the finally closes the others.
            var byRole = new SafeFileHandle?[plan.Report.RaidDisks];
            for (var role = 0; role < byRole.Length; role++)
            {
                var image = Array.FindIndex(superblocks, sb => ReferenceEquals(sb, plan.ByRole[role]));
                if (image >= 0)
                    (byRole[role], handles[image]) = (handles[image], null);
            }

            return new MdArray(plan, byRole);
        }
        finally
        {
            foreach (var handle in handles)
                handle?.Dispose();
        }
    }

    public async Task ReadAsync(long offsetBytes, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (IoRange.Check(offsetBytes, destination.Length, CapacityBytes, int.MaxValue) is { } error)
            throw error;

        // One piece per chunk touched; pieces are independent, so they all go out at once.
        var pieces = new List<Task>();
        for (var done = 0; done < destination.Length;)
        {
            var location = Geometry.Locate(offsetBytes + done);
            var pieceBytes = Math.Min(Geometry.ChunkBytes - location.OffsetInChunk, destination.Length - done);
            var piece = destination.Slice(done, pieceBytes);
            pieces.Add(location.Member == _missingRole
                ? RebuildAsync(location.MemberOffset, piece, cancellationToken)
                : ReadMemberAsync(location.Member, location.MemberOffset, piece, cancellationToken));
            done += pieceBytes;
        }

        await Task.WhenAll(pieces).ConfigureAwait(false);
    }

    public Task WriteAsync(long offsetBytes, ReadOnlyMemory<byte> source, bool fua = false, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("an md array read from its member images is read-only");

    /// <summary>Nothing is ever written, so there is nothing to flush.</summary>
    public Task FlushAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        foreach (var handle in _byRole)
            handle?.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    // The missing chunk is the XOR of the same bytes of every other member, parity included.
    private async Task RebuildAsync(long memberOffset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var lengthBytes = destination.Length;
        var rented = new byte[Geometry.MemberCount - 1][];
        try
        {
            var reads = new List<Task>(rented.Length);
            var sources = new ReadOnlyMemory<byte>[rented.Length];
            var next = 0;
            for (var role = 0; role < Geometry.MemberCount; role++)
            {
                if (role == _missingRole)
                    continue;
                rented[next] = ArrayPool<byte>.Shared.Rent(lengthBytes);
                var source = rented[next].AsMemory(0, lengthBytes);
                sources[next++] = source;
                reads.Add(ReadMemberAsync(role, memberOffset, source, cancellationToken));
            }

            await Task.WhenAll(reads).ConfigureAwait(false);
            XorParity.Compute(destination.Span, sources);
        }
        finally
        {
            foreach (var buffer in rented)
            {
                if (buffer is not null)
                    ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private async Task ReadMemberAsync(int role, long memberOffset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var handle = _byRole[role]!;
        var at = _dataOffsetBytes[role] + memberOffset;
        for (var done = 0; done < destination.Length;)
        {
            var read = await RandomAccess.ReadAsync(handle, destination[done..], at + done, cancellationToken).ConfigureAwait(false);
            if (read == 0)
                throw new IOException($"{_pathByRole[role]}: the image ends at byte {at + done}, inside the array's data area (was it truncated?)");
            done += read;
        }
    }
}
