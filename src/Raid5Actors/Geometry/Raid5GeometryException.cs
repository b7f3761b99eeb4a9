namespace Raid5Actors.Geometry;

/// <summary>An array shape or layout name that md would refuse. The message names the bad value.</summary>
public sealed class Raid5GeometryException : ArgumentException
{
    public Raid5GeometryException(string message)
        : base(message)
    {
    }
}
