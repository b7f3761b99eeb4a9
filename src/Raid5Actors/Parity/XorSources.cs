using System.Runtime.InteropServices;

namespace Raid5Actors.Parity;

/// <summary>
/// Up to <see cref="kMaxSources"/> equal-length sources for one <see cref="XorKernel"/> call. Eight
/// refs plus destination, offset and length still fit the x64 general registers, so no source is
/// reloaded from the stack inside the loop; more sources are handled in groups by
/// <see cref="XorParity"/>.
/// </summary>
internal ref struct XorSources
{
    public const int kMaxSources = 8;

    private ReadOnlySpan<byte> _s0;
    private ReadOnlySpan<byte> _s1;
    private ReadOnlySpan<byte> _s2;
    private ReadOnlySpan<byte> _s3;
    private ReadOnlySpan<byte> _s4;
    private ReadOnlySpan<byte> _s5;
    private ReadOnlySpan<byte> _s6;
    private ReadOnlySpan<byte> _s7;

    public int Count { get; private set; }

    public void Add(ReadOnlySpan<byte> source)
    {
        switch (Count)
        {
            case 0: _s0 = source; break;
            case 1: _s1 = source; break;
            case 2: _s2 = source; break;
            case 3: _s3 = source; break;
            case 4: _s4 = source; break;
            case 5: _s5 = source; break;
            case 6: _s6 = source; break;
            case 7: _s7 = source; break;
            default: throw new InvalidOperationException($"at most {kMaxSources} sources per kernel call");
        }

        Count++;
    }

    /// <summary>The refs the kernel reads. Unused slots are null refs that the kernel never touches.</summary>
    public readonly XorRefs ToRefs() => new(
        ref MemoryMarshal.GetReference(_s0), ref MemoryMarshal.GetReference(_s1),
        ref MemoryMarshal.GetReference(_s2), ref MemoryMarshal.GetReference(_s3),
        ref MemoryMarshal.GetReference(_s4), ref MemoryMarshal.GetReference(_s5),
        ref MemoryMarshal.GetReference(_s6), ref MemoryMarshal.GetReference(_s7));
}

/// <summary>Raw refs to the first byte of each source; lengths were checked by the caller.</summary>
internal readonly ref struct XorRefs
{
    public readonly ref byte S0;
    public readonly ref byte S1;
    public readonly ref byte S2;
    public readonly ref byte S3;
    public readonly ref byte S4;
    public readonly ref byte S5;
    public readonly ref byte S6;
    public readonly ref byte S7;

    public XorRefs(ref byte s0, ref byte s1, ref byte s2, ref byte s3, ref byte s4, ref byte s5, ref byte s6, ref byte s7)
    {
        S0 = ref s0;
        S1 = ref s1;
        S2 = ref s2;
        S3 = ref s3;
        S4 = ref s4;
        S5 = ref s5;
        S6 = ref s6;
        S7 = ref s7;
    }
}

/// <summary>
/// Source count as a type: the JIT compiles each kernel once per count and folds the
/// <c>if (TCount.Value &gt; j)</c> tests away, so all sources are combined in registers in one pass.
/// </summary>
internal interface ISourceCount
{
    static abstract int Value { get; }
}

internal struct Sources1 : ISourceCount { public static int Value => 1; }

internal struct Sources2 : ISourceCount { public static int Value => 2; }

internal struct Sources3 : ISourceCount { public static int Value => 3; }

internal struct Sources4 : ISourceCount { public static int Value => 4; }

internal struct Sources5 : ISourceCount { public static int Value => 5; }

internal struct Sources6 : ISourceCount { public static int Value => 6; }

internal struct Sources7 : ISourceCount { public static int Value => 7; }

internal struct Sources8 : ISourceCount { public static int Value => 8; }
