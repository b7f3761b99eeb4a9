using System.Buffers;
using System.Diagnostics;
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
/// be in flight (each is a few positional reads, <see cref="RandomAccess"/>).
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
        Geometry = plan.Geometry;
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

        var runs = PlanRuns(offsetBytes, destination);
        var reads = new Task[runs.Count];
        for (var i = 0; i < runs.Count; i++)
        {
            reads[i] = runs[i].Member == _missingRole
                ? RebuildRunAsync(runs[i], cancellationToken)
                : ReadRunAsync(runs[i], cancellationToken);
        }

        await Task.WhenAll(reads).ConfigureAwait(false);
    }

    public Task WriteAsync(long offsetBytes, ReadOnlyMemory<byte> source, bool fua = false, CancellationToken cancellationToken = default) =>
        Task.FromException(new NotSupportedException("an md array read from its member images is read-only"));

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

    /// <summary>
    /// Bytes of one member that a request wants, contiguous on the member: the chunks a member holds
    /// in successive rows lie end to end there, so a long request needs one (vectored) read per member
    /// instead of one per chunk. <see cref="Segments"/> are the matching slices of the destination.
    /// </summary>
    private sealed class Run(int member, long memberOffset, List<Memory<byte>> segments)
    {
        public int Member { get; } = member;

        public long MemberOffset { get; } = memberOffset;

        public List<Memory<byte>> Segments { get; } = segments;

        public int LengthBytes { get; set; } = segments.Sum(segment => segment.Length);
    }

    private List<Run> PlanRuns(long offsetBytes, Memory<byte> destination)
    {
        var runs = new List<Run>();
        var open = new Run?[Geometry.MemberCount];
        for (var done = 0; done < destination.Length;)
        {
            var location = Geometry.Locate(offsetBytes + done);
            var pieceBytes = Math.Min(Geometry.ChunkBytes - location.OffsetInChunk, destination.Length - done);
            var run = open[location.Member];
            if (run is null || run.MemberOffset + run.LengthBytes != location.MemberOffset)
            {
                run = new Run(location.Member, location.MemberOffset, []);
                open[location.Member] = run;
                runs.Add(run);
            }

            run.Segments.Add(destination.Slice(done, pieceBytes));
            run.LengthBytes += pieceBytes;
            done += pieceBytes;
        }

        return runs;
    }

    private async Task ReadRunAsync(Run run, CancellationToken cancellationToken)
    {
        Debug.Assert(run.MemberOffset + run.LengthBytes <= Geometry.MemberDataBytes, "run beyond the member's data area");
        var handle = _byRole[run.Member]!;
        var at = _dataOffsetBytes[run.Member] + run.MemberOffset;
        var remaining = run.Segments;
        for (var done = 0; done < run.LengthBytes;)
        {
            // A scatter read may stop early (Linux takes at most IOV_MAX = 1024 buffers per preadv).
            var read = (int)(remaining.Count == 1
                ? await RandomAccess.ReadAsync(handle, remaining[0], at + done, cancellationToken).ConfigureAwait(false)
                : await RandomAccess.ReadAsync(handle, remaining, at + done, cancellationToken).ConfigureAwait(false));

            // Open checked that every data area lies inside its image, so only a file cut since ends early.
            if (read == 0)
                throw new IOException($"{_pathByRole[run.Member]}: the image ends at byte {at + done}, inside the array's data area (was it truncated?)");
            done += read;
            remaining = Skip(remaining, read);
        }
    }

    private static List<Memory<byte>> Skip(List<Memory<byte>> segments, int bytes)
    {
        var first = 0;
        while (first < segments.Count && bytes >= segments[first].Length)
            bytes -= segments[first++].Length;
        var rest = segments.GetRange(first, segments.Count - first);
        if (bytes > 0)
            rest[0] = rest[0][bytes..];
        return rest;
    }

    // The missing member's bytes are the XOR of the same bytes of every other member, parity included.
    private async Task RebuildRunAsync(Run run, CancellationToken cancellationToken)
    {
        var sources = new byte[Geometry.MemberCount - 1][];
        try
        {
            var reads = new List<Task>(sources.Length);
            var next = 0;
            for (var member = 0; member < Geometry.MemberCount; member++)
            {
                if (member == _missingRole)
                    continue;
                sources[next] = ArrayPool<byte>.Shared.Rent(run.LengthBytes);
                var whole = sources[next++].AsMemory(0, run.LengthBytes);
                reads.Add(ReadRunAsync(new Run(member, run.MemberOffset, [whole]), cancellationToken));
            }

            await Task.WhenAll(reads).ConfigureAwait(false);
            var slices = new ReadOnlyMemory<byte>[sources.Length];
            var position = 0;
            foreach (var segment in run.Segments)
            {
                for (var i = 0; i < sources.Length; i++)
                    slices[i] = sources[i].AsMemory(position, segment.Length);
                XorParity.Compute(segment.Span, slices);
                position += segment.Length;
            }
        }
        finally
        {
            foreach (var buffer in sources)
            {
                if (buffer is not null)
                    ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }
}
